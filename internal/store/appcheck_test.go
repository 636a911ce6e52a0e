package store

import (
	"strings"
	"testing"
)

func TestValidRedirectURI(t *testing.T) {
	for uri, want := range map[string]string{
		"https://app.example/cb":                             "",
		"https://app.example:8443/cb?x=1":                    "",
		"http://127.0.0.1:53171/cb":                          "",
		"http://[::1]/cb":                                    "",
		"http://localhost:8080/":                             "",
		"http://app.example/cb":                              "https",
		"http://127.0.0.1.evil.example/cb":                   "https",
		"http://localhost.evil.example/":                     "https",
		"http://10.0.0.1/cb":                                 "https",
		"https://app.example/cb#frag":                        "fragment",
		"https://app.example/cb#":                            "fragment",
		"/cb":                                                "absolute",
		"app.example/cb":                                     "absolute",
		"https:///cb":                                        "absolute",
		"com.example.app:/cb":                                "absolute",
		"javascript:alert(1)":                                "absolute",
		"https://user:pw@app.example/cb":                     "user name",
		"ftp://app.example/cb":                               "https",
		"https://app.example/" + strings.Repeat("a", MaxURL): "not a URL",
		"https://app example/":                               "not a URL",
	} {
		err := ValidRedirectURI(uri)
		if want == "" && err != nil {
			t.Errorf("%s: %v", uri, err)
		}
		if want != "" && (err == nil || !strings.Contains(err.Error(), want)) {
			t.Errorf("%s: %v, want an error saying %q", uri, err, want)
		}
	}
}

func TestValidateApp(t *testing.T) {
	ok := App{ID: "abc_DEF-123", Name: "Calls", RedirectURIs: []string{"https://calls.example/cb"}, Scopes: []string{"openid"}, Public: true}
	if err := ValidateApp(ok); err != nil {
		t.Fatal(err)
	}
	for want, change := range map[string]func(*App){
		"app ID":            func(a *App) { a.ID = "a/b" },
		"needs a name":      func(a *App) { a.Name = " " },
		"name:":             func(a *App) { a.Name = "a\x00b" },
		"description":       func(a *App) { a.Description = strings.Repeat("é", MaxAppDescription+1) },
		"at least one":      func(a *App) { a.RedirectURIs = nil },
		"redirect URIs":     func(a *App) { a.RedirectURIs = make([]string, MaxListLen+1) },
		"unknown scope":     func(a *App) { a.Scopes = []string{"admin"} },
		"logo":              func(a *App) { a.Logo = "http://calls.example/logo.png" },
		"public app has no": func(a *App) { a.SecretHash = make([]byte, 32) },
		"confidential":      func(a *App) { a.Public = false },
	} {
		a := ok
		change(&a)
		if err := ValidateApp(a); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v", want, err)
		}
	}
}
