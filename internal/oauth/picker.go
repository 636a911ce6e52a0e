package oauth

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strings"

	"github.com/presenced/presenced/internal/core"
	"github.com/presenced/presenced/internal/store"
)

// The contact picker (docs/apps.md, "Pick contacts"), in the spirit of the
// W3C Contact Picker API: an app whose grant holds contacts:pick opens
// PathPick in a popup; the user, signed in to presenced's web page, picks
// contacts from their address book; the picked ones are added to the
// app's grant (core.Hub.PickContacts) and the page tells the app their
// handles (and names, if the user lets it) with window.opener.postMessage,
// addressed to the app's origin, which must be the origin of one of its
// registered redirect URIs: a page of another site that opens the picker
// in the app's name gets nothing, and the page never posts to "*". The
// app never sees the address book.
//
// The page is guarded as the consent page is: its forms carry a CSRF
// token that is an HMAC of the browser's binding cookie, the app and the
// origin; it may not be framed; it is not cached; its only script is
// PathPickScript (no inline script, by its Content-Security-Policy).

// Paths of the picker.
const (
	PathPick       = "/oauth/pick"
	PathPickScript = "/oauth/pick.js"
)

// MessagePicked is the type of the message the picker posts to the app.
const MessagePicked = "presenced:picked"

// Picker is the core's side of the picker (core.Hub).
type Picker interface {
	Pickable(ctx context.Context, account, app, text string) ([]core.Pickable, error)
	PickContacts(ctx context.Context, account, app string, addresses []string, names bool) ([]core.Picked, error)
}

//go:embed pick.js
var pickScript []byte

// pickerCSP lets the page run its one script file and nothing else.
const pickerCSP = "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; img-src https: 'self'; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// pickRequest is what the app asked for, from the query or the form.
type pickRequest struct {
	app      store.App
	origin   string // the app's origin the answer goes to
	multiple bool   // several contacts may be picked (else one)
	subject  string // the app's user's handle (its ID token's sub), if it said
}

// params are the request's parameters, for links and hidden fields.
func (q pickRequest) params() url.Values {
	v := url.Values{"client_id": {q.app.ID}, "origin": {q.origin}}
	if q.multiple {
		v.Set("multiple", "1")
	}
	if q.subject != "" {
		v.Set("sub", q.subject)
	}
	return v
}

// originOf is the origin (RFC 6454, as a browser serialises it) of an
// absolute http(s) URL, "" for others (a native app's private scheme).
func originOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return ""
	}
	host, port := strings.ToLower(u.Hostname()), u.Port()
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port == "" || (u.Scheme == "https" && port == "443") || (u.Scheme == "http" && port == "80") {
		return u.Scheme + "://" + host
	}
	return u.Scheme + "://" + host + ":" + port
}

// readPickRequest checks the app and its origin: the origin of one of the
// app's redirect URIs, exactly.
func (p *Provider) readPickRequest(ctx context.Context, v url.Values) (pickRequest, error) {
	id, origin := v.Get("client_id"), v.Get("origin")
	app, err := p.Store.GetApp(ctx, id)
	if id == "" || err != nil {
		return pickRequest{}, errors.New("this app is not registered with presenced")
	}
	for _, r := range app.RedirectURIs {
		if o := originOf(r); o != "" && o == origin {
			return pickRequest{app: app, origin: origin, multiple: v.Get("multiple") == "1", subject: v.Get("sub")}, nil
		}
	}
	return pickRequest{}, fmt.Errorf("the page that opened this window (%q) is not one of %s's: nothing will be shared with it", origin, app.Name)
}

// pickCSRF is the picker form's token in browser for q: valid for that
// app and origin only.
func (p *Provider) pickCSRF(browser string, q pickRequest) string {
	key := derive(p.Secret, "picker csrf")
	m := hmac.New(sha256.New, key[:])
	m.Write([]byte(browser + "\x00" + q.app.ID + "\x00" + q.origin))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

type pickerView struct {
	App      store.App
	Origin   string
	Params   url.Values
	CSRF     string
	Account  string // "" until signed in
	Query    string
	Multiple bool
	Contacts []core.Pickable
	Error    string
	// the answer, when done
	Message  string // the JSON message for the app
	Count    int
	Canceled bool
}

var pickerTmpl = template.Must(template.New("picker").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Share contacts with {{.App.Name}}? — presenced</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:32rem;margin:1.5rem auto;padding:0 1rem}img{max-width:3rem;max-height:3rem}
button{font:inherit;padding:.4rem 1rem;margin-right:.5rem}label{display:block;margin:.3rem 0}input{font:inherit}.error{color:#a00}
ul{list-style:none;padding:0;max-height:50vh;overflow:auto}li{border-bottom:1px solid #ddd}.addr,.note{color:#555;font-size:.9em}
fieldset{border:1px solid #ccc;padding:.5rem}</style></head>
<body><main id="picker">
<h1>{{if .App.Logo}}<img src="{{.App.Logo}}" alt=""> {{end}}Share contacts with {{.App.Name}}?</h1>
{{if .Message}}<div id="result" data-origin="{{.Origin}}" data-message="{{.Message}}" role="status">
{{if .Canceled}}<p>Nothing was shared.</p>{{else}}<p>{{.Count}} contact(s) shared with {{.App.Name}}.</p>{{end}}
<p>You can close this window.</p></div>
{{else}}{{if .Error}}<p class="error" role="alert">{{.Error}}</p>{{end}}
{{if .Account}}
<p>{{.App.Name}} will see only the contacts you pick, by an identifier for this app alone, and their names only if you say so. You are signed in as <strong>{{.Account}}</strong>.</p>
<form method="get" role="search" id="search-form">{{range $k, $v := .Params}}{{range $v}}<input type="hidden" name="{{$k}}" value="{{.}}">{{end}}{{end}}
<label for="search">Search your address book</label>
<input type="search" id="search" name="q" value="{{.Query}}" autocomplete="off"> <button id="search-button">Search</button>
</form>
<form method="post" id="pick-form">
{{range $k, $v := .Params}}{{range $v}}<input type="hidden" name="{{$k}}" value="{{.}}">{{end}}{{end}}<input type="hidden" name="csrf" value="{{.CSRF}}">
<fieldset><legend>{{if .Multiple}}Pick contacts{{else}}Pick a contact{{end}}</legend>
<p id="shown" class="note" aria-live="polite">{{len .Contacts}} contact(s){{if .Query}} matching “{{.Query}}”{{end}}</p>
<ul id="contacts">{{range .Contacts}}<li><label><input type="{{if $.Multiple}}checkbox{{else}}radio{{end}}" name="pick" value="{{.Address}}">
{{if .Name}}{{.Name}} <span class="addr">{{.Address}}</span>{{else}}{{.Address}}{{end}}{{if .Shared}} <span class="note">(shared already)</span>{{end}}</label></li>
{{else}}<li>No contact with a presence address{{if .Query}} matches “{{.Query}}”{{end}}.</li>{{end}}</ul>
</fieldset>
<label><input type="checkbox" name="names" value="1" id="names"> Share their names too</label>
<button name="action" value="share" id="share">Share</button><button name="action" value="cancel" id="cancel">Cancel</button>
</form>
{{else}}
<form method="post" id="signin-form">
{{range $k, $v := .Params}}{{range $v}}<input type="hidden" name="{{$k}}" value="{{.}}">{{end}}{{end}}<input type="hidden" name="csrf" value="{{.CSRF}}">
<p>Sign in to presenced to pick contacts:</p>
<label>Address <input name="address" autocomplete="username" required></label>
<label>Password <input name="password" type="password" autocomplete="current-password" required></label>
<button name="action" value="signin" id="signin">Sign in</button><button name="action" value="cancel" id="cancel" formnovalidate>Cancel</button>
</form>{{end}}{{end}}
</main><script src="` + PathPickScript + `"></script></body></html>
`))

// pickerHeaders: no framing, no caching, only the page's own script.
func pickerHeaders(w http.ResponseWriter) {
	w.Header().Set("Content-Security-Policy", pickerCSP)
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
}

// pickerRefused answers a request the picker cannot take, with a page
// that carries no script: nothing is posted to the opener.
func pickerRefused(w http.ResponseWriter, status int, problem string) {
	pickerHeaders(w)
	w.WriteHeader(status)
	fmt.Fprintf(w, `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Contact picker — presenced</title></head>
<body><main><h1>The contact picker cannot open</h1><p role="alert">%s</p><p>You can close this window.</p></main></body></html>
`, template.HTMLEscapeString(problem))
}

func (p *Provider) pickPage(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query()
	q, err := p.readPickRequest(r.Context(), v)
	if err != nil {
		pickerRefused(w, http.StatusBadRequest, err.Error())
		return
	}
	if _, signedIn := p.Sessions.Account(r); !signedIn && v.Get("again") == "" {
		// opened from the app's site: load again from here to be sent
		// the web page's SameSite=Strict session cookie (consentPage)
		again := q.params()
		again.Set("again", "1")
		if t := v.Get("q"); t != "" {
			again.Set("q", t)
		}
		pickerHeaders(w)
		fmt.Fprintf(w, reloadPage, template.HTMLEscapeString(PathPick+"?"+again.Encode()))
		return
	}
	p.renderPicker(w, r, q, v.Get("q"), "", http.StatusOK)
}

// renderPicker shows the sign-in form, or the address book to pick from.
func (p *Provider) renderPicker(w http.ResponseWriter, r *http.Request, q pickRequest, text, problem string, status int) {
	browser, _ := r.Context().Value(browserKey{}).(string)
	view := pickerView{App: q.app, Origin: q.origin, Params: q.params(), CSRF: p.pickCSRF(browser, q), Query: text,
		Multiple: q.multiple, Error: problem}
	if account, signedIn := p.Sessions.Account(r); signedIn {
		if q.subject != "" && subtle.ConstantTimeCompare([]byte(q.subject), []byte(p.handle(q.app.ID, account))) != 1 {
			pickerRefused(w, http.StatusForbidden, fmt.Sprintf("You are signed in to presenced as %s, but %s asks for another user's contacts: sign in to presenced as that user, then pick again.", account, q.app.Name))
			return
		}
		cs, err := p.Picker.Pickable(r.Context(), account, q.app.ID, text)
		if ce := (*core.Error)(nil); errors.As(err, &ce) && ce.Code == core.CodeForbidden {
			pickerRefused(w, http.StatusForbidden, ce.Message)
			return
		}
		if err != nil {
			p.Log.Error("oauth: picker", "err", err)
			pickerRefused(w, http.StatusInternalServerError, "Your address book could not be read; try again.")
			return
		}
		view.Account, view.Contacts = account, cs
	}
	pickerHeaders(w)
	w.WriteHeader(status)
	pickerTmpl.Execute(w, view)
}

// pickAnswer takes the picker's forms: sign in, share, cancel.
func (p *Provider) pickAnswer(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 1<<20) // a pick of many contacts
	if err := r.ParseForm(); err != nil {
		pickerRefused(w, http.StatusBadRequest, "The form could not be read.")
		return
	}
	q, err := p.readPickRequest(r.Context(), r.PostForm)
	if err != nil {
		pickerRefused(w, http.StatusBadRequest, err.Error())
		return
	}
	c, cerr := r.Cookie(browserCookie)
	if cerr != nil || len(c.Value) != 32 || subtle.ConstantTimeCompare([]byte(r.PostFormValue("csrf")), []byte(p.pickCSRF(c.Value, q))) != 1 {
		pickerRefused(w, http.StatusForbidden, "This form is stale or was not sent from the contact picker: open it again from the app.")
		return
	}
	r = r.WithContext(context.WithValue(r.Context(), browserKey{}, c.Value))
	switch r.PostFormValue("action") {
	case "cancel":
		p.pickDone(w, q, nil, true)
		return
	case "signin":
		if _, err := p.Sessions.SignIn(w, r, r.PostFormValue("address"), r.PostFormValue("password")); err != nil {
			p.renderPicker(w, r, q, "", "That address and password do not match.", http.StatusOK)
			return
		}
		http.Redirect(w, r, PathPick+"?"+q.params().Encode(), http.StatusSeeOther)
		return
	case "share":
	default:
		pickerRefused(w, http.StatusBadRequest, "Share, or cancel.")
		return
	}
	account, signedIn := p.Sessions.Account(r)
	if !signedIn {
		p.renderPicker(w, r, q, "", "Sign in first.", http.StatusOK)
		return
	}
	if q.subject != "" && subtle.ConstantTimeCompare([]byte(q.subject), []byte(p.handle(q.app.ID, account))) != 1 {
		pickerRefused(w, http.StatusForbidden, "You are signed in to presenced as another user than the app's.")
		return
	}
	addresses := r.PostForm["pick"]
	if len(addresses) == 0 {
		p.renderPicker(w, r, q, "", "Pick a contact, or cancel.", http.StatusOK)
		return
	}
	if !q.multiple && len(addresses) > 1 {
		p.renderPicker(w, r, q, "", "Pick one contact only.", http.StatusOK)
		return
	}
	picked, err := p.Picker.PickContacts(r.Context(), account, q.app.ID, addresses, r.PostFormValue("names") == "1")
	var ce *core.Error
	switch {
	case errors.As(err, &ce) && ce.Code == core.CodeForbidden:
		pickerRefused(w, http.StatusForbidden, ce.Message)
		return
	case errors.As(err, &ce) && (ce.Code == core.CodeInvalid || ce.Code == core.CodeLimit):
		p.renderPicker(w, r, q, "", ce.Message, http.StatusBadRequest)
		return
	case err != nil:
		p.Log.Error("oauth: pick contacts", "err", err)
		pickerRefused(w, http.StatusInternalServerError, "The contacts could not be shared; try again.")
		return
	}
	p.pickDone(w, q, picked, false)
}

// pickDone shows the answer page, whose script posts it to the app's
// origin and closes the window.
func (p *Provider) pickDone(w http.ResponseWriter, q pickRequest, picked []core.Picked, canceled bool) {
	msg := map[string]any{"type": MessagePicked, "contacts": picked}
	if picked == nil {
		msg["contacts"] = []core.Picked{}
	}
	if canceled {
		msg["cancelled"] = true
	}
	b, _ := json.Marshal(msg)
	pickerHeaders(w)
	pickerTmpl.Execute(w, pickerView{App: q.app, Origin: q.origin, Message: string(b), Count: len(picked), Canceled: canceled})
}

func servePickScript(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.Write(pickScript)
}
