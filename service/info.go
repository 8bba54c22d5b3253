package service

import (
	"os"
	"runtime"
	"runtime/debug"

	testingv1 "github.com/internetarchive/testingd/gen/openlibrary/testing/v1"
	"github.com/internetarchive/testingd/integrations/openlibrary"
)

// InfoOptions configure GetServerInfo.
type InfoOptions struct {
	Version    string // overrides the module version (set with -ldflags by the Makefile)
	Revision   string // overrides the VCS revision
	OLConfig   string // Open Library's openlibrary.yml, for feature flags; "" = none
	OLCheckout string // an Open Library checkout whose revision is reported; "" = none
}

// serverInfo reads the feature flags and the checkout revision on every call: both
// are small local files and this RPC is not on a hot path.
func (s *Server) serverInfo(v Viewer) *testingv1.GetServerInfoResponse {
	out := &testingv1.GetServerInfoResponse{
		ServiceVersion: "devel",
		GoVersion:      runtime.Version(),
		StartTime:      timestamp(s.started, true),
		Viewer: &testingv1.Viewer{
			Username:   v.Username,
			SignedIn:   v.SignedIn,
			Maintainer: v.Maintainer,
			AuthMode:   s.auth.Mode(),
		},
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			out.ServiceVersion = bi.Main.Version
		}
		for _, kv := range bi.Settings {
			switch kv.Key {
			case "vcs.revision":
				out.VcsRevision = kv.Value
			case "vcs.modified":
				out.VcsModified = kv.Value == "true"
			}
		}
	}
	if s.info.Version != "" {
		out.ServiceVersion = s.info.Version
	}
	if s.info.Revision != "" {
		out.VcsRevision = s.info.Revision
	}
	out.Host, _ = os.Hostname()
	var problems []string
	if s.info.OLCheckout != "" {
		rev, err := openlibrary.CheckoutRevision(s.info.OLCheckout)
		if err != nil {
			problems = append(problems, "Open Library checkout: "+err.Error())
		}
		out.OlRevision = rev
	}
	if s.info.OLConfig != "" {
		flags, err := openlibrary.ReadFeatureFlags(s.info.OLConfig)
		if err != nil {
			problems = append(problems, "feature flags: "+err.Error())
		}
		for _, f := range flags {
			out.Features = append(out.Features, &testingv1.FeatureFlag{Name: f.Name, Value: f.Value})
		}
	}
	if len(problems) > 0 {
		s.logger.Warn("server info incomplete", "problems", problems)
		out.ConfigError = "some system information could not be read; the server log says why"
	}
	return out
}
