// Command argocd-engine evaluates Argo CD notification triggers and renders webhook templates the
// way argocd-notifications-controller does, with the real libraries: expr (github.com/antonmedv/expr,
// Debian golang-github-antonmedv-expr-dev) for `when`/`oncePer`, Go text/template with sprig's
// TxtFuncMap minus env/expandenv (Debian golang-github-masterminds-sprig-dev) for bodies.
// It is meshdrift's own test helper, built by test/support/argocd-engine.ts with
// GO111MODULE=off GOPATH=/usr/share/gocode:<tmp>; no network, no fetched code.
//
// Protocol: one JSON request per stdin line, one JSON answer per stdout line.
//
//	{"op":"eval","expr":"...","vars":{...}}      → {"value":<result>,"error":"..."}
//	{"op":"compile","expr":"..."}                → {"error":"..."}
//	{"op":"render","template":"...","vars":{...}} → {"text":"...","error":"..."}
//	{"op":"yaml","template":"..."}               → {"value":<the YAML as JSON>,"error":"..."}
//
// Mirrors notifications-engine pkg/triggers/service.go (expr.Compile without options, expr.Run)
// and pkg/templates/service.go + pkg/services/webhook.go (text/template.New(name).Funcs(f).Parse).
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	texttemplate "text/template"

	"github.com/Masterminds/sprig"
	"github.com/antonmedv/expr"
	"gopkg.in/yaml.v3"
)

type request struct {
	Op       string                 `json:"op"`
	Expr     string                 `json:"expr"`
	Template string                 `json:"template"`
	Vars     map[string]interface{} `json:"vars"`
}

type answer struct {
	Value interface{} `json:"value,omitempty"`
	Text  *string     `json:"text,omitempty"`
	Error string      `json:"error,omitempty"`
}

func funcMap() texttemplate.FuncMap {
	f := sprig.TxtFuncMap()
	delete(f, "env")
	delete(f, "expandenv")
	return f
}

func handle(req request) (a answer) {
	defer func() {
		if r := recover(); r != nil {
			a = answer{Error: fmt.Sprintf("panic: %v", r)}
		}
	}()
	switch req.Op {
	case "compile":
		if _, err := expr.Compile(req.Expr); err != nil {
			return answer{Error: err.Error()}
		}
		return answer{}
	case "eval":
		prog, err := expr.Compile(req.Expr)
		if err != nil {
			return answer{Error: "compile: " + err.Error()}
		}
		val, err := expr.Run(prog, req.Vars)
		if err != nil {
			return answer{Error: "run: " + err.Error()}
		}
		// notifications-engine keeps `fmt.Sprintf("%v", val)` for oncePer and `val.(bool)` for when.
		if b, ok := val.(bool); ok {
			return answer{Value: b}
		}
		return answer{Value: fmt.Sprintf("%v", val)}
	case "yaml":
		// Argo CD reads each trigger.* / template.* value as YAML (sigs.k8s.io/yaml, a go-yaml).
		var v interface{}
		if err := yaml.Unmarshal([]byte(req.Template), &v); err != nil {
			return answer{Error: err.Error()}
		}
		return answer{Value: v}
	case "render":
		t, err := texttemplate.New("body").Funcs(funcMap()).Parse(req.Template)
		if err != nil {
			return answer{Error: "parse: " + err.Error()}
		}
		var buf bytes.Buffer
		if err := t.Execute(&buf, req.Vars); err != nil {
			return answer{Error: "execute: " + err.Error()}
		}
		text := buf.String()
		return answer{Text: &text}
	}
	return answer{Error: "unknown op " + req.Op}
}

func main() {
	in := bufio.NewReaderSize(os.Stdin, 1<<20)
	out := bufio.NewWriter(os.Stdout)
	enc := json.NewEncoder(out)
	enc.SetEscapeHTML(false)
	for {
		line, err := in.ReadBytes('\n')
		if len(bytes.TrimSpace(line)) > 0 {
			var req request
			dec := json.NewDecoder(bytes.NewReader(line))
			// Numbers as float64, exactly as Argo CD's unstructured objects come from JSON.
			if derr := dec.Decode(&req); derr != nil {
				_ = enc.Encode(answer{Error: "bad request: " + derr.Error()})
			} else {
				_ = enc.Encode(handle(req))
			}
			_ = out.Flush()
		}
		if err != nil {
			return
		}
	}
}
