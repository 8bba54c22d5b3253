package apidocs

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"net/url"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// pageData is what the HTML page shows, built once from the OpenAPI document (the
// words, examples, access) and the descriptors (the order and the types).
type pageData struct {
	Title       string
	Intro       []string
	Service     string
	ServiceDesc []string
	RPCs        []rpcDoc
	Messages    []messageDoc
	Enums       []enumDoc
}

type rpcDoc struct {
	Name, Path, Summary string
	Desc                []string
	Public, Get, Stream bool
	Request, Response   string
	RequestFields       []fieldDoc
	ResponseFields      []fieldDoc
	Example             string // the example request, compact JSON
}

type fieldDoc struct {
	JSONName, ProtoName string
	Type                string // as shown
	Link                string // the schema it names, "" for scalars
	Desc                []string
}

type messageDoc struct {
	Name   string
	Desc   []string
	Fields []fieldDoc
}

type enumDoc struct {
	Name   string
	Desc   []string
	Values []enumValueDoc
}

type enumValueDoc struct {
	Name   string
	Number int32
	Desc   string
}

func newPageData(doc map[string]any, svc protoreflect.ServiceDescriptor) (pageData, error) {
	if svc == nil {
		return pageData{}, fmt.Errorf("no TestingService descriptor")
	}
	schemas, _ := dig(doc, "components", "schemas").(map[string]any)
	paths, _ := doc["paths"].(map[string]any)
	p := pageData{
		Title:   str(dig(doc, "info", "title")),
		Service: string(svc.FullName()),
	}
	// info.description is the intro, the service comment and the protocol notes;
	// the page shows the service comment on its own.
	if tags, ok := doc["tags"].([]any); ok && len(tags) > 0 {
		p.ServiceDesc = paragraphs(str(dig(tags[0], "description")))
	}
	intro := str(dig(doc, "info", "description"))
	for _, para := range paragraphs(intro) {
		if !strings.Contains(strings.Join(p.ServiceDesc, "\n"), para) {
			p.Intro = append(p.Intro, para)
		}
	}

	methods := svc.Methods()
	for i := range methods.Len() {
		m := methods.Get(i)
		path := Procedure(m)
		item, ok := paths[path].(map[string]any)
		if !ok {
			return pageData{}, fmt.Errorf("openapi.json does not describe %s: run make generate", path)
		}
		post, _ := item["post"].(map[string]any)
		r := rpcDoc{
			Name:     string(m.Name()),
			Path:     strings.TrimPrefix(path, "/"),
			Summary:  str(post["summary"]),
			Desc:     paragraphs(str(post["description"])),
			Public:   post["x-testingd-access"] == "public",
			Get:      item["get"] != nil,
			Stream:   m.IsStreamingServer(),
			Request:  schemaName(m.Input()),
			Response: schemaName(m.Output()),
		}
		r.RequestFields = fieldDocs(m.Input(), schemas)
		r.ResponseFields = fieldDocs(m.Output(), schemas)
		content, _ := dig(post, "requestBody", "content").(map[string]any)
		for _, media := range content {
			if ex, ok := media.(map[string]any)["example"]; ok {
				b, err := json.Marshal(ex)
				if err != nil {
					return pageData{}, err
				}
				r.Example = string(b)
			}
		}
		if r.Example == "" {
			r.Example = "{}"
		}
		p.RPCs = append(p.RPCs, r)
	}

	file := svc.ParentFile()
	for i := range file.Messages().Len() {
		md := file.Messages().Get(i)
		s, ok := schemas[schemaName(md)].(map[string]any)
		if !ok {
			continue // not used by the service
		}
		p.Messages = append(p.Messages, messageDoc{
			Name: schemaName(md), Desc: paragraphs(str(s["description"])), Fields: fieldDocs(md, schemas),
		})
	}
	for i := range file.Enums().Len() {
		ed := file.Enums().Get(i)
		s, ok := schemas[schemaName(ed)].(map[string]any)
		if !ok {
			continue
		}
		descs, _ := s["x-enum-descriptions"].([]any)
		e := enumDoc{Name: schemaName(ed), Desc: paragraphs(str(s["description"]))}
		for j := range ed.Values().Len() {
			v := ed.Values().Get(j)
			ev := enumValueDoc{Name: string(v.Name()), Number: int32(v.Number())}
			if j < len(descs) {
				ev.Desc = str(descs[j])
			}
			e.Values = append(e.Values, ev)
		}
		p.Enums = append(p.Enums, e)
	}
	return p, nil
}

// fieldDocs lists md's fields in proto order with their OpenAPI descriptions.
func fieldDocs(md protoreflect.MessageDescriptor, schemas map[string]any) []fieldDoc {
	props, _ := dig(schemas[schemaName(md)], "properties").(map[string]any)
	var out []fieldDoc
	fields := md.Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		f := fieldDoc{
			JSONName:  fd.JSONName(),
			ProtoName: string(fd.Name()),
			Desc:      paragraphs(str(dig(props[fd.JSONName()], "description"))),
		}
		f.Type, f.Link = typeName(fd)
		out = append(out, f)
	}
	return out
}

// typeName says how a field's value looks in JSON, and which schema it names.
func typeName(fd protoreflect.FieldDescriptor) (string, string) {
	var name, link string
	switch fd.Kind() {
	case protoreflect.EnumKind:
		name = schemaName(fd.Enum())
		link = name
	case protoreflect.MessageKind, protoreflect.GroupKind:
		switch fd.Message().FullName() {
		case "google.protobuf.Timestamp":
			name = "timestamp (RFC 3339 string)"
		case "google.protobuf.Duration":
			name = `duration (string, "1.5s")`
		default:
			name = schemaName(fd.Message())
			link = name
		}
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind,
		protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		name = fd.Kind().String() + " (decimal string)"
	case protoreflect.BytesKind:
		name = "bytes (base64 string)"
	default:
		name = fd.Kind().String()
	}
	switch {
	case fd.IsList():
		name = "list of " + name
	case fd.HasOptionalKeyword():
		name = "optional " + name
	}
	return name, link
}

func schemaName(d protoreflect.Descriptor) string {
	return strings.TrimPrefix(string(d.FullName()), string(d.ParentFile().Package())+".")
}

// paragraphs splits a comment at blank lines and unwraps each paragraph.
func paragraphs(s string) []string {
	var out []string
	for _, p := range strings.Split(s, "\n\n") {
		if p = strings.Join(strings.Fields(p), " "); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func dig(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

// WritePage writes the HTML page. origin ("http://host:port") is where the
// examples send requests; the page's own links are relative, so they work under
// any base path and behind any proxy.
func (d *Docs) WritePage(w io.Writer, origin string) error {
	var buf bytes.Buffer
	err := pageTemplate.Execute(&buf, struct {
		pageData
		URL, Host string
		Plaintext bool
	}{d.page, origin + d.base, hostOf(origin), !strings.HasPrefix(origin, "https:")})
	if err != nil {
		return err
	}
	_, err = w.Write(buf.Bytes())
	return err
}

func hostOf(origin string) string {
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return "HOST:PORT"
	}
	if u.Port() == "" {
		if u.Scheme == "https" {
			return u.Host + ":443"
		}
		return u.Host + ":80"
	}
	return u.Host
}

var pageTemplate = template.Must(template.New("page").Funcs(template.FuncMap{
	"query": url.QueryEscape,
	"text":  codeSpans,
}).Parse(pageHTML))

// codeSpans renders the comments' Markdown code spans (`like this`) as <code>; the
// rest is escaped text.
func codeSpans(s string) template.HTML {
	parts := strings.Split(s, "`")
	if len(parts)%2 == 0 { // an unpaired backtick: no spans
		return template.HTML(template.HTMLEscapeString(s))
	}
	var b strings.Builder
	for i, p := range parts {
		if i%2 == 1 {
			b.WriteString("<code>" + template.HTMLEscapeString(p) + "</code>")
		} else {
			b.WriteString(template.HTMLEscapeString(p))
		}
	}
	return template.HTML(b.String())
}

const pageHTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>
body { font: 15px/1.5 system-ui, sans-serif; max-width: 60rem; margin: 0 auto; padding: 1rem 1.5rem 4rem; color: #1a1a1a; }
h1 { font-size: 1.6rem; } h2 { margin-top: 2.5rem; border-bottom: 1px solid #ddd; } h3 { margin-top: 2rem; }
code, pre { font: 13px/1.4 ui-monospace, monospace; background: #f4f4f4; border-radius: 3px; }
code { padding: 0 .2em; } pre { padding: .6rem .8rem; overflow-x: auto; }
table { border-collapse: collapse; width: 100%; margin: .5rem 0; font-size: 14px; }
th, td { border: 1px solid #ddd; padding: .25rem .5rem; text-align: left; vertical-align: top; }
th { background: #f8f8f8; } td p { margin: 0 0 .3em; } td p:last-child { margin: 0; }
.tag { display: inline-block; font-size: 12px; padding: 0 .4em; border-radius: 3px; background: #e8eef8; margin-right: .3em; }
.public { background: #e3f4e3; } nav ul { columns: 2; }
</style>
</head>
<body>
<h1>{{.Title}}</h1>
<p>Machine-readable: <a href="../openapi.json">openapi.json</a> (OpenAPI 3.1). The web UI is <a href="../">here</a>.</p>
{{range .Intro}}<p>{{text .}}</p>
{{end}}
<h2 id="{{.Service}}">{{.Service}}</h2>
{{range .ServiceDesc}}<p>{{text .}}</p>
{{end}}
<nav><ul>
{{range .RPCs}}<li><a href="#{{.Name}}">{{.Name}}</a>: {{.Summary}}</li>
{{end}}</ul></nav>
{{range .RPCs}}
<section class="rpc" id="{{.Name}}">
<h3>{{.Name}}</h3>
<p><code>POST {{$.URL}}{{.Path}}</code>
{{if .Public}}<span class="tag public">public</span>{{else}}<span class="tag">maintainers</span>{{end}}
{{if .Get}}<span class="tag">GET too</span>{{end}}
{{if .Stream}}<span class="tag">server stream</span>{{end}}</p>
{{range .Desc}}<p>{{text .}}</p>
{{end}}
<p>Request: <a href="#{{.Request}}">{{.Request}}</a></p>
{{template "fields" .RequestFields}}
<p>Response: {{if .Stream}}a stream of {{end}}<a href="#{{.Response}}">{{.Response}}</a></p>
{{template "fields" .ResponseFields}}
<p>Example:</p>
{{if .Stream}}<pre>grpcurl {{if $.Plaintext}}-plaintext {{end}}{{if not .Public}}-H "Authorization: Bearer $TOKEN" {{end}}-d '{{.Example}}' {{$.Host}} {{$.Service}}/{{.Name}}</pre>
<p>Connect JSON streams frame every message (see the description above), so curl is awkward here;
a Connect or gRPC client (or grpcurl, as above) reads the stream.</p>
{{else}}<pre>curl -sS -H 'Content-Type: application/json' {{if not .Public}}-H "Authorization: Bearer $TOKEN" {{end}}\
  -d '{{.Example}}' \
  {{$.URL}}{{.Path}}</pre>
{{if .Get}}<pre>curl -sS {{if not .Public}}-H "Authorization: Bearer $TOKEN" {{end}}'{{$.URL}}{{.Path}}?encoding=json&amp;message={{query .Example}}'</pre>
{{end}}{{end}}
</section>
{{end}}
<h2 id="messages">Messages</h2>
{{range .Messages}}
<h3 id="{{.Name}}">{{.Name}}</h3>
{{range .Desc}}<p>{{text .}}</p>
{{end}}
{{template "fields" .Fields}}
{{end}}
<h2 id="enums">Enums</h2>
{{range .Enums}}
<h3 id="{{.Name}}">{{.Name}}</h3>
{{range .Desc}}<p>{{text .}}</p>
{{end}}
<table><tr><th>Name</th><th>Number</th><th>Description</th></tr>
{{range .Values}}<tr><td><code>{{.Name}}</code></td><td>{{.Number}}</td><td>{{text .Desc}}</td></tr>
{{end}}</table>
{{end}}
<h2 id="errors">Errors</h2>
<p>An RPC that fails answers with a non-200 status and a JSON body
<code>{"code": "invalid_argument", "message": "…"}</code>; see <code>ConnectError</code> in
<a href="../openapi.json">openapi.json</a>.</p>
</body>
</html>
{{define "fields"}}{{if .}}<table><tr><th>Field (JSON)</th><th>Type</th><th>Description</th></tr>
{{range .}}<tr><td><code>{{.JSONName}}</code></td><td>{{if .Link}}<a href="#{{.Link}}">{{.Type}}</a>{{else}}{{.Type}}{{end}}</td><td>{{range .Desc}}<p>{{text .}}</p>{{end}}</td></tr>
{{end}}</table>{{else}}<p>No fields: send <code>{}</code>.</p>{{end}}{{end}}`
