package main

import "io"

func benchCmd(args []string, stdout io.Writer) error {
	return usageError("usage: presenced bench idle|fanout (not built yet)")
}
