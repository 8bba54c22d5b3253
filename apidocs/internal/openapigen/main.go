// Command openapigen writes apidocs/openapi.json, the OpenAPI 3.1 description of
// the TestingService's Connect JSON routes. `make generate` runs it after `buf
// generate`:
//
//	go run ./apidocs/internal/openapigen -doc gen/apidocs/testing.doc.json -out apidocs/openapi.json
//
// The structure comes from the service's compiled descriptors, so the schemas say
// exactly what protojson accepts and emits (lowerCamelCase names, enums by name,
// 64-bit integers as strings, timestamps as RFC 3339 strings). The words come from
// the proto comments, which protoc-gen-doc exports as JSON (-doc).
// protoc-gen-openapiv2 was tried and dropped: it rewrites comments (a field comment
// ending in a parenthesis lost it) and describes gRPC-Gateway's shapes (its error
// object, its stream wrapper), not Connect's.
//
// The output is deterministic: encoding/json sorts map keys, and nothing depends on
// time or the machine.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"

	testingv1 "github.com/internetarchive/testingd/gen/openlibrary/testing/v1"
)

func main() {
	docPath := flag.String("doc", "gen/apidocs/testing.doc.json", "protoc-gen-doc's JSON output")
	outPath := flag.String("out", "apidocs/openapi.json", "where to write the OpenAPI document")
	flag.Parse()
	doc, err := os.ReadFile(*docPath)
	if err != nil {
		fmt.Fprintf(os.Stderr, "openapigen: %v\n", err)
		os.Exit(1)
	}
	out, warnings, err := build(doc)
	for _, w := range warnings {
		fmt.Fprintf(os.Stderr, "openapigen: warning: %s\n", w)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "openapigen: %v\n", err)
		os.Exit(1)
	}
	if err := os.WriteFile(*outPath, out, 0o644); err != nil {
		fmt.Fprintf(os.Stderr, "openapigen: %v\n", err)
		os.Exit(1)
	}
}

// publicRPCs answer callers who are not signed in; every other RPC is for
// maintainers. The service enforces it (service.Server.requireMaintainer); the
// cmd/testingd tests check this table against a real server.
var publicRPCs = map[string]bool{"GetBuildResult": true, "GetServerInfo": true}

// examples are the request bodies shown for each RPC. Each must unmarshal (strictly)
// into its request message; an RPC not listed here shows `{}`, which every request
// accepts. The cmd/testingd tests send every one of them to a real server.
var examples = map[string]string{
	"AddPRs":     `{"refs": ["13269", "#13270"]}`,
	"RemovePRs":  `{"numbers": [13269]}`,
	"RestorePRs": `{"numbers": [13269]}`,
	"StagePRs":   `{"numbers": [13269], "stage": "STAGE_PULL_LATEST"}`,
	"Deploy":     `{"dryRun": true}`,
	"EvictDrift": `{"numbers": [13269]}`,
	"ListEvents": `{"pageSize": 20, "number": 13269}`,
}

// connectCodes are the Connect error codes, as they appear in an error's "code".
var connectCodes = []string{
	"canceled", "unknown", "invalid_argument", "deadline_exceeded", "not_found",
	"already_exists", "permission_denied", "resource_exhausted", "failed_precondition",
	"aborted", "out_of_range", "unimplemented", "internal", "unavailable", "data_loss",
	"unauthenticated",
}

type obj = map[string]any

// The subset of protoc-gen-doc's JSON that carries comments.
type docJSON struct {
	Files []struct {
		Enums []struct {
			FullName    string `json:"fullName"`
			Description string `json:"description"`
			Values      []struct {
				Name        string `json:"name"`
				Description string `json:"description"`
			} `json:"values"`
		} `json:"enums"`
		Messages []struct {
			FullName    string `json:"fullName"`
			Description string `json:"description"`
			Fields      []struct {
				Name        string `json:"name"`
				Description string `json:"description"`
			} `json:"fields"`
		} `json:"messages"`
		Services []struct {
			FullName    string `json:"fullName"`
			Description string `json:"description"`
			Methods     []struct {
				Name        string `json:"name"`
				Description string `json:"description"`
			} `json:"methods"`
		} `json:"services"`
	} `json:"files"`
}

// comments maps a full name (a message's, "Message.field", "Enum.VALUE",
// "Service.Method") to its comment.
type comments map[string]string

func parseComments(doc []byte) (comments, error) {
	var d docJSON
	if err := json.Unmarshal(doc, &d); err != nil {
		return nil, fmt.Errorf("parse protoc-gen-doc JSON: %w", err)
	}
	c := comments{}
	for _, f := range d.Files {
		for _, e := range f.Enums {
			c[e.FullName] = e.Description
			for _, v := range e.Values {
				c[e.FullName+"."+v.Name] = v.Description
			}
		}
		for _, m := range f.Messages {
			c[m.FullName] = m.Description
			for _, fl := range m.Fields {
				c[m.FullName+"."+fl.Name] = fl.Description
			}
		}
		for _, s := range f.Services {
			c[s.FullName] = s.Description
			for _, m := range s.Methods {
				c[s.FullName+"."+m.Name] = m.Description
			}
		}
	}
	return c, nil
}

// generator builds the document; warnings collects what lacks a comment.
type generator struct {
	comments comments
	schemas  obj
	warnings []string
	err      error // the first field that cannot be described
}

func (g *generator) comment(fullName protoreflect.FullName) string {
	c := strings.TrimSpace(g.comments[string(fullName)])
	if c == "" {
		g.warnings = append(g.warnings, fmt.Sprintf("%s has no comment", fullName))
	}
	return c
}

// build returns the OpenAPI document for the TestingService from protoc-gen-doc's
// JSON, with a warning for each element without a comment.
func build(doc []byte) ([]byte, []string, error) {
	c, err := parseComments(doc)
	if err != nil {
		return nil, nil, err
	}
	g := &generator{comments: c, schemas: obj{}}
	file := testingv1.File_openlibrary_testing_v1_testing_proto
	svc := file.Services().ByName("TestingService")
	if svc == nil {
		return nil, nil, fmt.Errorf("%s has no TestingService", file.Path())
	}

	paths := obj{}
	methods := svc.Methods()
	for i := range methods.Len() {
		m := methods.Get(i)
		if m.IsStreamingClient() {
			return nil, nil, fmt.Errorf("%s: client streams cannot be described", m.FullName())
		}
		item, err := g.pathItem(m)
		if err != nil {
			return nil, nil, err
		}
		paths["/"+string(svc.FullName())+"/"+string(m.Name())] = item
	}
	if g.err != nil {
		return nil, nil, g.err
	}
	g.addProtocolSchemas()

	document := obj{
		"openapi": "3.1.0",
		"info": obj{
			"title":   "testingd: " + string(svc.FullName()),
			"version": string(file.Package()),
			"description": "The Connect JSON routes of testingd, the service behind Open Library's testing " +
				"deployments. Generated from the proto comments by `make generate`; the same RPCs are served " +
				"over gRPC and gRPC-Web on the same port (with reflection, for grpcurl), and as binary " +
				"protobuf (`Content-Type: application/proto`).\n\n" + g.comment(svc.FullName()) + "\n\n" + protocolNotes,
		},
		"externalDocs": obj{
			"description": "The Connect protocol",
			"url":         "https://connectrpc.com/docs/protocol/",
		},
		// testingd serves this document at BASE/openapi.json and replaces this entry
		// with BASE (its --base-path).
		"servers": []any{obj{"url": "/", "description": "testingd's --base-path"}},
		"tags":    []any{obj{"name": string(svc.Name()), "description": g.comment(svc.FullName())}},
		"security": []any{
			obj{"bearer": []any{}},
			obj{"session": []any{}},
		},
		"paths": paths,
		"components": obj{
			"schemas":         g.schemas,
			"parameters":      parameters(),
			"responses":       obj{"ConnectError": errorResponse()},
			"securitySchemes": securitySchemes(),
		},
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(document); err != nil {
		return nil, nil, err
	}
	sort.Strings(g.warnings)
	return buf.Bytes(), g.warnings, nil
}

const protocolNotes = "Protocol: `POST` the request message as JSON (protobuf's JSON mapping: lowerCamelCase " +
	"field names, enums by name, 64-bit integers and timestamps as strings; unknown fields are ignored) " +
	"with `Content-Type: application/json`; the answer is the response message as JSON, fields at their " +
	"zero value left out. RPCs without side effects may also be called with `GET " +
	"…/Method?encoding=json&message=<URL-encoded JSON>`. An error is a non-200 status with a Connect " +
	"error object (`ConnectError`). Scripts and bots authenticate with `Authorization: Bearer TOKEN`."

// pathItem describes one RPC: POST always, GET for the RPCs without side effects.
func (g *generator) pathItem(m protoreflect.MethodDescriptor) (obj, error) {
	in, out := m.Input(), m.Output()
	g.addMessage(in)
	g.addMessage(out)
	desc := g.comment(m.FullName())
	example, err := requestExample(m)
	if err != nil {
		return nil, err
	}
	name := string(m.Name())
	op := obj{
		"operationId": string(m.Parent().Name()) + "_" + name,
		"summary":     summary(desc),
		"description": desc,
		"tags":        []any{string(m.Parent().Name())},
	}
	if publicRPCs[name] {
		op["security"] = []any{obj{}, obj{"bearer": []any{}}, obj{"session": []any{}}}
		op["x-testingd-access"] = "public"
	} else {
		op["x-testingd-access"] = "maintainers"
	}
	if m.IsStreamingServer() {
		op["x-connect-streaming"] = "server"
		op["description"] = desc + "\n\n" + streamNotes
		op["parameters"] = []any{ref("parameters", "ConnectProtocolVersion")}
		op["requestBody"] = obj{
			"required":    true,
			"description": "One enveloped " + string(in.Name()) + " (see the operation's description).",
			"content": obj{"application/connect+json": obj{
				"schema": ref("schemas", schemaName(in)), "example": example,
			}},
		}
		op["responses"] = obj{"200": obj{
			"description": "A stream of enveloped " + string(out.Name()) + " messages, then an end-of-stream frame (`ConnectEndStream`).",
			"content": obj{"application/connect+json": obj{
				"schema": ref("schemas", schemaName(out)),
			}},
		}}
		op["x-connect-end-stream"] = ref("schemas", "ConnectEndStream")
		return obj{"post": op}, nil
	}

	responses := obj{
		"200": obj{
			"description": "The " + string(out.Name()) + ", as JSON.",
			"content":     obj{"application/json": obj{"schema": ref("schemas", schemaName(out))}},
		},
		"default": ref("responses", "ConnectError"),
	}
	post := clone(op)
	post["parameters"] = []any{ref("parameters", "ConnectProtocolVersion"), ref("parameters", "ConnectTimeoutMs")}
	post["requestBody"] = obj{
		"required": true,
		"content": obj{"application/json": obj{
			"schema": ref("schemas", schemaName(in)), "example": example,
		}},
	}
	post["responses"] = responses
	item := obj{"post": post}

	if m.Options().(*descriptorpb.MethodOptions).GetIdempotencyLevel() == descriptorpb.MethodOptions_NO_SIDE_EFFECTS {
		post["x-connect-idempotency"] = "NO_SIDE_EFFECTS"
		get := clone(op)
		get["operationId"] = op["operationId"].(string) + "_get"
		get["summary"] = summary(desc) + " (GET form)"
		get["x-connect-idempotency"] = "NO_SIDE_EFFECTS"
		get["parameters"] = []any{
			obj{
				"name": "message", "in": "query", "required": true,
				"description": "The request message as JSON, URL-encoded.",
				"content": obj{"application/json": obj{
					"schema": ref("schemas", schemaName(in)), "example": example,
				}},
			},
			ref("parameters", "ConnectGetEncoding"),
			ref("parameters", "ConnectGetVersion"),
			ref("parameters", "ConnectGetBase64"),
			ref("parameters", "ConnectGetCompression"),
		}
		get["responses"] = responses
		item["get"] = get
	}
	return item, nil
}

const streamNotes = "Server stream, in Connect's streaming protocol: `POST` with " +
	"`Content-Type: application/connect+json`; the body is the request message framed as one " +
	"envelope (a flags byte 0x00, the JSON's length as a big-endian uint32, the JSON). The answer " +
	"(HTTP 200) is a sequence of such envelopes, each a response message, then a last envelope with " +
	"flags 0x02 holding a `ConnectEndStream`: `{}` when the stream ended cleanly, or " +
	"`{\"error\": {\"code\": …, \"message\": …}}`. Use a Connect or gRPC client (or grpcurl) rather than curl."

// requestExample returns the example request of m, checked against its request
// message.
func requestExample(m protoreflect.MethodDescriptor) (any, error) {
	src, ok := examples[string(m.Name())]
	if !ok {
		src = "{}"
	}
	if err := protojson.Unmarshal([]byte(src), dynamicpb.NewMessage(m.Input())); err != nil {
		return nil, fmt.Errorf("example of %s is not a %s: %w", m.Name(), m.Input().FullName(), err)
	}
	var v any
	if err := json.Unmarshal([]byte(src), &v); err != nil {
		return nil, err
	}
	return v, nil
}

// summary is the first sentence of a comment.
func summary(desc string) string {
	para, _, _ := strings.Cut(desc, "\n\n")
	para = strings.Join(strings.Fields(para), " ")
	if i := strings.Index(para, ". "); i >= 0 {
		return para[:i+1]
	}
	return para
}

func ref(kind, name string) obj { return obj{"$ref": "#/components/" + kind + "/" + name} }

func clone(o obj) obj {
	c := make(obj, len(o))
	for k, v := range o {
		c[k] = v
	}
	return c
}

// schemaName names a message's or enum's schema: its name within the package.
func schemaName(d protoreflect.Descriptor) string {
	return strings.TrimPrefix(string(d.FullName()), string(d.ParentFile().Package())+".")
}

// addMessage adds the schema of md and of every message and enum it uses.
func (g *generator) addMessage(md protoreflect.MessageDescriptor) {
	name := schemaName(md)
	if _, ok := g.schemas[name]; ok {
		return
	}
	props := obj{}
	s := obj{"type": "object", "description": g.comment(md.FullName()), "properties": props}
	g.schemas[name] = s // before the fields: messages may be recursive
	fields := md.Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		p := g.fieldSchema(fd)
		if c := g.comment(fd.FullName()); c != "" {
			p = clone(p)
			p["description"] = c
		}
		props[fd.JSONName()] = p
	}
}

func (g *generator) addEnum(ed protoreflect.EnumDescriptor) {
	name := schemaName(ed)
	if _, ok := g.schemas[name]; ok {
		return
	}
	var names, descs []any
	values := ed.Values()
	for i := range values.Len() {
		v := values.Get(i)
		names = append(names, string(v.Name()))
		descs = append(descs, g.comment(ed.FullName().Append(v.Name())))
	}
	g.schemas[name] = obj{
		"type": "string",
		"description": g.comment(ed.FullName()) + "\n\nIn JSON the value's name; requests may also give its number. " +
			"A response leaves out a field at the first (zero) value.",
		"enum":                names,
		"x-enum-descriptions": descs,
	}
}

// fieldSchema is the JSON Schema of a field's value as protojson writes it.
func (g *generator) fieldSchema(fd protoreflect.FieldDescriptor) obj {
	switch {
	case fd.IsMap():
		return obj{"type": "object", "additionalProperties": g.singularSchema(fd.MapValue())}
	case fd.IsList():
		return obj{"type": "array", "items": g.singularSchema(fd)}
	}
	return g.singularSchema(fd)
}

func (g *generator) singularSchema(fd protoreflect.FieldDescriptor) obj {
	switch fd.Kind() {
	case protoreflect.BoolKind:
		return obj{"type": "boolean"}
	case protoreflect.StringKind:
		return obj{"type": "string"}
	case protoreflect.BytesKind:
		return obj{"type": "string", "contentEncoding": "base64"}
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return obj{"type": "integer", "format": "int32"}
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return obj{"type": "integer", "minimum": 0, "maximum": 4294967295}
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return obj{"type": "string", "format": "int64", "pattern": `^-?[0-9]+$`}
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return obj{"type": "string", "format": "uint64", "pattern": `^[0-9]+$`}
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		return obj{"type": "number"}
	case protoreflect.EnumKind:
		g.addEnum(fd.Enum())
		return ref("schemas", schemaName(fd.Enum()))
	}
	md := fd.Message()
	switch md.FullName() {
	case "google.protobuf.Timestamp":
		return obj{"type": "string", "format": "date-time"}
	case "google.protobuf.Duration":
		return obj{"type": "string", "pattern": `^-?[0-9]+(\.[0-9]+)?s$`}
	}
	if md.ParentFile().Package() != fd.ParentFile().Package() {
		// Another package's message (a well-known type other than the two above):
		// protojson has special forms for some; describe it once it is used.
		g.err = fmt.Errorf("%s uses %s, which has no JSON schema here yet", fd.FullName(), md.FullName())
		return obj{}
	}
	g.addMessage(md)
	return ref("schemas", schemaName(md))
}

// addProtocolSchemas adds the Connect protocol's own objects.
func (g *generator) addProtocolSchemas() {
	codes := make([]any, len(connectCodes))
	for i, c := range connectCodes {
		codes[i] = c
	}
	g.schemas["ConnectError"] = obj{
		"type":        "object",
		"description": "A Connect error, the body of every non-200 answer of a unary RPC.",
		"required":    []any{"code"},
		"properties": obj{
			"code": obj{
				"type": "string", "enum": codes,
				"description": "The Connect code, in snake_case (INVALID_ARGUMENT is `invalid_argument`).",
			},
			"message": obj{"type": "string", "description": "What went wrong, for a person; absent when empty."},
			"details": obj{
				"type":        "array",
				"description": "Typed details; testingd rarely sends any.",
				"items":       ref("schemas", "ConnectErrorDetail"),
			},
		},
	}
	g.schemas["ConnectErrorDetail"] = obj{
		"type":        "object",
		"description": "One error detail: a protobuf message.",
		"properties": obj{
			"type":  obj{"type": "string", "description": "The message's full name, e.g. `google.rpc.RetryInfo`."},
			"value": obj{"type": "string", "contentEncoding": "base64", "description": "The message in binary protobuf, base64 (unpadded)."},
			"debug": obj{"description": "The message as JSON, when the server adds it."},
		},
	}
	g.schemas["ConnectEndStream"] = obj{
		"type":        "object",
		"description": "The last frame of a Connect stream (flags 0x02).",
		"properties": obj{
			"error":    ref("schemas", "ConnectError"),
			"metadata": obj{"type": "object", "description": "Trailers.", "additionalProperties": obj{"type": "array", "items": obj{"type": "string"}}},
		},
	}
}

func parameters() obj {
	return obj{
		"ConnectProtocolVersion": obj{
			"name": "Connect-Protocol-Version", "in": "header", "required": false,
			"description": "The Connect protocol version. Connect clients send it; testingd does not require it.",
			"schema":      obj{"type": "string", "enum": []any{"1"}},
		},
		"ConnectTimeoutMs": obj{
			"name": "Connect-Timeout-Ms", "in": "header", "required": false,
			"description": "A deadline for the call, in milliseconds.",
			"schema":      obj{"type": "string", "pattern": "^[0-9]{1,10}$"},
		},
		"ConnectGetEncoding": obj{
			"name": "encoding", "in": "query", "required": true,
			"description": "The codec of `message`: `json` (or `proto` with `base64=1`).",
			"schema":      obj{"type": "string", "enum": []any{"json", "proto"}},
		},
		"ConnectGetVersion": obj{
			"name": "connect", "in": "query", "required": false,
			"description": "The Connect protocol version (the GET form of Connect-Protocol-Version).",
			"schema":      obj{"type": "string", "enum": []any{"v1"}},
		},
		"ConnectGetBase64": obj{
			"name": "base64", "in": "query", "required": false,
			"description": "`1` when `message` is URL-safe base64 (required for binary protobuf).",
			"schema":      obj{"type": "string", "enum": []any{"1"}},
		},
		"ConnectGetCompression": obj{
			"name": "compression", "in": "query", "required": false,
			"description": "How `message` is compressed (then it must be base64).",
			"schema":      obj{"type": "string", "enum": []any{"identity", "gzip"}},
		},
	}
}

func errorResponse() obj {
	return obj{
		"description": "A Connect error. The HTTP status follows the code: invalid_argument, failed_precondition " +
			"and out_of_range 400, unauthenticated 401, permission_denied 403, not_found 404, aborted and " +
			"already_exists 409, resource_exhausted 429, canceled 499, unimplemented 501, unavailable 503, " +
			"deadline_exceeded 504, the others 500.",
		"content": obj{"application/json": obj{"schema": ref("schemas", "ConnectError")}},
	}
}

func securitySchemes() obj {
	return obj{
		"bearer": obj{
			"type": "http", "scheme": "bearer",
			"description": "A bot's or the CLI's token: one line `NAME SHA256HEX` of --tokens-file holds the " +
				"SHA-256 of the token. Works in every --auth mode.",
		},
		"session": obj{
			"type": "apiKey", "in": "cookie", "name": "session",
			"description": "Open Library's session cookie (--auth openlibrary), as the web UI sends it. " +
				"With --auth dev every caller is a maintainer and needs neither.",
		},
	}
}
