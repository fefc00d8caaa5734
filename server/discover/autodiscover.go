package discover

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Autodiscover XML namespaces ([MS-OXDSCLI] 2.2.4, 2.2.2; [MS-ASCMD]
// Autodiscover).
const (
	nsResponse        = "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006"
	SchemaOutlook     = "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"
	SchemaMobileSync  = "http://schemas.microsoft.com/exchange/autodiscover/mobilesync/responseschema/2006"
	nsRequestOutlook  = "http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"
	nsRequestMobile   = "http://schemas.microsoft.com/exchange/autodiscover/mobilesync/requestschema/2006"
	xmlDeclaration    = `<?xml version="1.0" encoding="utf-8"?>` + "\n"
	contentTypeXML    = "text/xml; charset=utf-8"
	contentTypeJSON   = "application/json; charset=utf-8"
	autodiscoverProto = "autodiscover"
)

// POXRequest is a parsed Autodiscover request ([MS-OXDSCLI] 2.2.3).
type POXRequest struct {
	EMailAddress string
	// Schema is the AcceptableResponseSchema, or the one implied by the
	// request's namespace when absent.
	Schema string
}

// Errors of ParsePOXRequest.
var (
	ErrMalformed = errors.New("malformed Autodiscover request")
	ErrNoAddress = errors.New("Autodiscover request without a valid EMailAddress")
)

// ParsePOXRequest parses an Autodiscover request body. Element names match
// in any namespace; the body must already be bounded by the caller
// (MaxRequestBody). DTDs and entities other than XML's five are refused by
// encoding/xml's strict mode.
func ParsePOXRequest(body []byte) (POXRequest, error) {
	var doc struct {
		XMLName xml.Name
		Request struct {
			EMailAddress             string `xml:"EMailAddress"`
			AcceptableResponseSchema string `xml:"AcceptableResponseSchema"`
		} `xml:"Request"`
	}
	d := xml.NewDecoder(bytes.NewReader(body))
	d.Strict = true
	if err := d.Decode(&doc); err != nil {
		return POXRequest{}, ErrMalformed
	}
	if doc.XMLName.Local != "Autodiscover" {
		return POXRequest{}, ErrMalformed
	}
	req := POXRequest{
		EMailAddress: strings.ToLower(strings.TrimSpace(doc.Request.EMailAddress)),
		Schema:       strings.TrimSpace(doc.Request.AcceptableResponseSchema),
	}
	if req.Schema == "" {
		switch doc.XMLName.Space {
		case nsRequestMobile:
			req.Schema = SchemaMobileSync
		default:
			req.Schema = SchemaOutlook
		}
	}
	if !validAddress(req.EMailAddress) {
		return req, ErrNoAddress
	}
	return req, nil
}

// autodiscoverPOX answers POST /autodiscover/autodiscover.xml.
func (h *Handler) autodiscoverPOX(w http.ResponseWriter, r *http.Request) {
	cfg := h.o.Config()
	if r.Method != http.MethodPost {
		// Exchange answers a GET with error 600 too; clients probing with
		// GET learn the endpoint exists.
		writePOXError(w, "600", "Invalid Request")
		return
	}
	login := ""
	if cfg.Discover.RequireAuth {
		p := h.basicAuth(w, r, autodiscoverProto)
		if p == nil {
			return
		}
		login = p.Address
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxRequestBody))
	if err != nil {
		writePOXError(w, "600", "Invalid Request")
		return
	}
	req, err := ParsePOXRequest(body)
	if err != nil {
		writePOXError(w, "600", "Invalid Request")
		return
	}
	s := h.describe(cfg, req.EMailAddress)
	if login != "" {
		s.LoginName = login
		// The display name only to its own account.
		if login == req.EMailAddress && h.o.DisplayName != nil {
			s.DisplayName = h.o.DisplayName(r.Context(), login)
		}
	}
	var out []byte
	switch req.Schema {
	case SchemaOutlook:
		out = outlookResponse(s)
	case SchemaMobileSync:
		out = mobileSyncResponse(s, cfg.Discover.ActiveSyncURL)
	default:
		// [MS-OXDSCLI] 2.2.4.1.1.1.2: 601 Provider is not available.
		writePOXError(w, "601", "Provider is not available")
		return
	}
	h.log.Debug("autodiscover", "schema", req.Schema, "remote", remoteAddr(r).String())
	w.Header().Set("Content-Type", contentTypeXML)
	w.Header().Set("Cache-Control", "no-store")
	w.Write(out)
}

// Response elements of the outlook schema ([MS-OXDSCLI] 2.2.4.1.1).
type (
	poxDoc struct {
		XMLName  xml.Name `xml:"Autodiscover"`
		Xmlns    string   `xml:"xmlns,attr"`
		Response any
	}
	outlookResp struct {
		XMLName xml.Name   `xml:"Response"`
		Xmlns   string     `xml:"xmlns,attr"`
		User    outlookUsr `xml:"User"`
		Account outlookAcc `xml:"Account"`
	}
	outlookUsr struct {
		DisplayName             string `xml:"DisplayName"`
		AutoDiscoverSMTPAddress string `xml:"AutoDiscoverSMTPAddress"`
	}
	outlookAcc struct {
		AccountType string        `xml:"AccountType"`
		Action      string        `xml:"Action"`
		Protocols   []outlookProt `xml:"Protocol"`
	}
	outlookProt struct {
		Type           string `xml:"Type"`
		Server         string `xml:"Server"`
		Port           int    `xml:"Port,omitempty"`
		LoginName      string `xml:"LoginName,omitempty"`
		DomainRequired string `xml:"DomainRequired,omitempty"`
		SPA            string `xml:"SPA,omitempty"`
		SSL            string `xml:"SSL"`
		Encryption     string `xml:"Encryption,omitempty"`
		AuthRequired   string `xml:"AuthRequired"`
		UsePOPAuth     string `xml:"UsePOPAuth,omitempty"`
		SMTPLast       string `xml:"SMTPLast,omitempty"`
	}
	poxErrorResp struct {
		XMLName xml.Name `xml:"Response"`
		Error   poxError `xml:"Error"`
	}
	poxError struct {
		Time      string `xml:"Time,attr"`
		ID        string `xml:"Id,attr"`
		ErrorCode string `xml:"ErrorCode"`
		Message   string `xml:"Message"`
		DebugData string `xml:"DebugData"`
	}
)

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

// outlookResponse renders the outlook-schema settings: one Protocol per
// mail protocol with its preferred endpoint, IMAP first so that Outlook
// picks IMAP, then SMTP and POP3; then the WebDAV (SmartAttach), CalDAV,
// CardDAV and client-services (5229: provisioning, updates, activation)
// URLs as Protocol entries of types WEBDAV, CALDAV, CARDDAV and CLIENTSVC
// with the URL in Server (Outlook ignores types it does not know; Outlook
// Sync-like clients read them).
func outlookResponse(s Settings) []byte {
	acc := outlookAcc{AccountType: "email", Action: "settings"}
	mail := func(typ string, eps []Endpoint) {
		if len(eps) == 0 {
			return
		}
		e := eps[0]
		p := outlookProt{
			Type: typ, Server: e.Host, Port: e.Port, LoginName: s.LoginName,
			DomainRequired: "off", SPA: "off", SSL: "on", AuthRequired: "on",
		}
		// [MS-OXDSCLI] 2.2.4.1.1.2.6.1.13 Encryption: "SSL" for implicit
		// TLS, "TLS" for STARTTLS.
		if e.Security == SSL {
			p.Encryption = "SSL"
		} else {
			p.Encryption = "TLS"
		}
		if typ == "SMTP" {
			p.UsePOPAuth, p.SMTPLast = "off", "off"
		}
		acc.Protocols = append(acc.Protocols, p)
	}
	mail("IMAP", s.IMAP)
	mail("SMTP", s.SMTP)
	mail("POP3", s.POP3)
	for _, u := range []struct{ typ, url string }{{"WEBDAV", s.WebDAV}, {"CALDAV", s.CalDAV}, {"CARDDAV", s.CardDAV}, {"CLIENTSVC", s.ClientServices}} {
		if u.url == "" {
			continue
		}
		_, port, tls, _ := URLHost(u.url)
		acc.Protocols = append(acc.Protocols, outlookProt{
			Type: u.typ, Server: u.url, Port: port, LoginName: s.LoginName,
			SSL: onOff(tls), AuthRequired: "on",
		})
	}
	doc := poxDoc{Xmlns: nsResponse, Response: outlookResp{
		Xmlns:   SchemaOutlook,
		User:    outlookUsr{DisplayName: s.displayName(), AutoDiscoverSMTPAddress: s.Email},
		Account: acc,
	}}
	return marshalXML(doc)
}

// displayName is what answers show as the user's name: the display name
// when known, else the address.
func (s Settings) displayName() string {
	if s.DisplayName != "" {
		return s.DisplayName
	}
	return s.Email
}

// MobileSync response elements ([MS-ASCMD] 2.2.3.x Autodiscover).
type (
	mobileResp struct {
		XMLName xml.Name      `xml:"Response"`
		Xmlns   string        `xml:"xmlns,attr"`
		Culture string        `xml:"Culture"`
		User    mobileUser    `xml:"User"`
		Action  *mobileAction `xml:"Action"`
	}
	mobileUser struct {
		DisplayName  string `xml:"DisplayName"`
		EMailAddress string `xml:"EMailAddress"`
	}
	mobileAction struct {
		Settings *mobileSettings `xml:"Settings,omitempty"`
		Error    *mobileError    `xml:"Error,omitempty"`
	}
	mobileSettings struct {
		Server []mobileServer `xml:"Server"`
	}
	mobileServer struct {
		Type string `xml:"Type"`
		URL  string `xml:"Url"`
		Name string `xml:"Name"`
	}
	mobileError struct {
		Status    int    `xml:"Status"`
		Message   string `xml:"Message"`
		DebugData string `xml:"DebugData"`
	}
)

// mobileSyncResponse renders the mobilesync schema: the ActiveSync gateway
// URL when one is configured, else an Action/Error (Status 1) that makes a
// phone fall back to manual IMAP setup.
func mobileSyncResponse(s Settings, activeSyncURL string) []byte {
	resp := mobileResp{
		Xmlns: SchemaMobileSync, Culture: "en:us",
		User: mobileUser{DisplayName: s.displayName(), EMailAddress: s.Email},
	}
	if activeSyncURL != "" {
		resp.Action = &mobileAction{Settings: &mobileSettings{Server: []mobileServer{{
			Type: "MobileSync", URL: activeSyncURL, Name: activeSyncURL,
		}}}}
	} else {
		resp.Action = &mobileAction{Error: &mobileError{
			Status: 1, Message: "ActiveSync is not offered by this server; set up the account with IMAP", DebugData: "MobileSync",
		}}
	}
	return marshalXML(poxDoc{Xmlns: nsResponse, Response: resp})
}

// writePOXError answers an Autodiscover error in the base response schema
// ([MS-OXDSCLI] 2.2.4.2), status 200 as Exchange does.
func writePOXError(w http.ResponseWriter, code, msg string) {
	var id [4]byte
	rand.Read(id[:])
	doc := poxDoc{Xmlns: nsResponse, Response: poxErrorResp{Error: poxError{
		Time: time.Now().UTC().Format("15:04:05.0000000"), ID: strconv.FormatUint(uint64(id[0])<<24|uint64(id[1])<<16|uint64(id[2])<<8|uint64(id[3]), 10),
		ErrorCode: code, Message: msg,
	}}}
	w.Header().Set("Content-Type", contentTypeXML)
	w.Header().Set("Cache-Control", "no-store")
	w.Write(marshalXML(doc))
}

func marshalXML(v any) []byte {
	b, err := xml.MarshalIndent(v, "", "  ")
	if err != nil {
		// Only our own fixed types are marshalled; this cannot happen.
		panic(err)
	}
	return append([]byte(xmlDeclaration), b...)
}

// v2Response is the Autodiscover v2 answer.
type v2Response struct {
	Protocol string `json:"Protocol"`
	URL      string `json:"Url"`
}

type v2Error struct {
	ErrorCode    string `json:"ErrorCode"`
	ErrorMessage string `json:"ErrorMessage"`
}

// autodiscoverV2 answers GET /autodiscover/autodiscover.json?Email=&Protocol=
// and /autodiscover/autodiscover.json/v1.0/ADDR?Protocol=: it redirects
// AutodiscoverV1 to the POX endpoint and ActiveSync to the configured
// gateway.
func (h *Handler) autodiscoverV2(w http.ResponseWriter, r *http.Request) {
	cfg := h.o.Config()
	q := r.URL.Query()
	get := func(name string) string {
		for k, v := range q {
			if strings.EqualFold(k, name) && len(v) > 0 {
				return v[0]
			}
		}
		return ""
	}
	email := get("Email")
	if rest, ok := strings.CutPrefix(strings.ToLower(r.URL.Path), PathAutodiscoverJSON+"/v1.0/"); ok && email == "" {
		email = rest
	}
	email = strings.ToLower(strings.TrimSpace(email))
	proto := get("Protocol")
	if !validAddress(email) {
		writeJSON(w, http.StatusBadRequest, v2Error{"InvalidEmail", "An email address (Email=local@domain) is required."})
		return
	}
	var url string
	switch strings.ToLower(proto) {
	case "autodiscoverv1":
		var bound map[string]int
		if h.o.Ports != nil {
			bound = h.o.Ports()
		}
		proto, url = "AutodiscoverV1", AutodiscoverURL(cfg, bound)
	case "activesync":
		proto, url = "ActiveSync", cfg.Discover.ActiveSyncURL
	}
	if url == "" {
		msg := "The given protocol value '" + sanitizeEcho(proto) + "' is invalid. Supported values are 'AutodiscoverV1'"
		if cfg.Discover.ActiveSyncURL != "" {
			msg += ", 'ActiveSync'"
		}
		writeJSON(w, http.StatusBadRequest, v2Error{"InvalidProtocol", msg + "."})
		return
	}
	writeJSON(w, http.StatusOK, v2Response{Protocol: proto, URL: url})
}

// sanitizeEcho bounds and cleans a client value echoed in an error.
func sanitizeEcho(s string) string {
	if len(s) > 40 {
		s = s[:40]
	}
	return strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f || r == '\'' {
			return -1
		}
		return r
	}, s)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", contentTypeJSON)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
