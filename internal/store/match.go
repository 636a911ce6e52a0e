package store

import "strings"

// Matches reports whether c passes the filter q. Backends that cannot filter
// in their query language use it, so every backend filters the same way.
func Matches(c Contact, q ContactQuery) bool {
	if q.Address != "" && c.Address != q.Address {
		return false
	}
	if q.Group != "" && !containsFold(c.Groups, q.Group, true) {
		return false
	}
	if q.Text == "" {
		return true
	}
	fields := append([]string{c.Name, c.Notes, c.Address}, c.Emails...)
	fields = append(fields, c.Phones...)
	return containsFold(fields, q.Text, false)
}

func containsFold(fields []string, needle string, whole bool) bool {
	needle = strings.ToLower(needle)
	for _, f := range fields {
		f = strings.ToLower(f)
		if whole && f == needle || !whole && strings.Contains(f, needle) {
			return true
		}
	}
	return false
}
