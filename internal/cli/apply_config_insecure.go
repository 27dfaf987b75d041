package cli

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"

	"github.com/cairn-project/cairn/node/cluster/config"
	maintenancev1 "github.com/cairn-project/cairn/proto/gen/cairn/maintenance/v1"
	"github.com/cairn-project/cairn/proto/gen/cairn/maintenance/v1/maintenancev1connect"
)

// insecureApplyResult is one machine's answer, for -o json|yaml.
type insecureApplyResult struct {
	Endpoint string `json:"endpoint"`
	NodeName string `json:"nodeName,omitempty"`
	Role     string `json:"role,omitempty"`
	Error    string `json:"error,omitempty"`
}

func newApplyConfigCommand(g *globals) *cobra.Command {
	var file, node string
	var insecure bool
	cmd := &cobra.Command{
		Use:   "apply-config --insecure -e ADDR -f FILE [--node NAME]",
		Short: "Give a machine in maintenance mode its first configuration",
		Long: `Send FILE, the cluster configuration, to machines in maintenance mode:
machines booted without a configuration, which serve only this call and
Version on port 6440 until they get one. Each machine validates FILE, finds
its own entry (by --node, else the node name it was booted with, else the
entries' match rules on its MAC addresses and hostname), answers, and
boots as that node.

--insecure is required: a machine in maintenance mode has no cluster CA
yet, so its certificate is one it made itself and cannot be verified, and
no client certificate is sent. Use it only on a network you trust.

This is not how a configured cluster changes its configuration: that is
'cairnctl config apply -f FILE', verified against the cluster CA and
checked against the role of your client certificate. A configured node
does not serve apply-config at all.

Endpoints come from -e only (host[:port], port 6440 by default), one per
machine; the client config is not used. With -o json|yaml:
[{"endpoint":"...","nodeName":"...","role":"...","error":"..."}].`,
		Example: `  # A VM booted without cairn.config=, reachable on 127.0.10.4:
  cairnctl apply-config --insecure -e 127.0.10.4 -f cluster.yaml

  # Name the entry it takes, when its MAC and hostname match none:
  cairnctl apply-config --insecure -e 10.5.0.7 -f cluster.yaml --node worker2`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !insecure {
				return fmt.Errorf("%w: apply-config configures machines in maintenance mode and needs --insecure "+
					"(their certificate cannot be verified); to change a configured cluster's configuration use "+
					"'cairnctl config apply -f FILE'", ErrUsage)
			}
			if len(g.nodes) > 0 {
				return fmt.Errorf("%w: apply-config takes the machine's entry with --node NAME, not --nodes; "+
					"a machine in maintenance mode proxies to no other", ErrUsage)
			}
			endpoints := cleanList(g.endpoints)
			if len(endpoints) == 0 {
				return fmt.Errorf("%w: give each machine's address with -e ADDR", ErrUsage)
			}
			if node != "" && len(endpoints) > 1 {
				return fmt.Errorf("%w: --node names one entry, so it takes one endpoint, not %d", ErrUsage, len(endpoints))
			}
			doc, err := readDocument(cmd.InOrStdin(), file)
			if err != nil {
				return err
			}
			if len(doc) > config.MaxDocumentBytes {
				return tooLargeError("the configuration", config.FormatBytes(len(doc)))
			}
			return runInsecureApply(cmd.Context(), g, endpoints, &maintenancev1.ApplyConfigRequest{Config: string(doc), NodeName: node})
		},
	}
	cmd.Flags().BoolVar(&insecure, "insecure", false, "required: the machine's certificate is self-made and not verified (maintenance mode)")
	cmd.Flags().StringVarP(&file, "file", "f", "", `configuration file to send ("-" for stdin)`)
	cmd.Flags().StringVar(&node, "node", "", "the entry of the configuration the machine takes (default: its boot name, else its match rules)")
	_ = cmd.MarkFlagRequired("file")
	_ = cmd.MarkFlagFilename("file", "yaml", "yml", "json")
	return cmd
}

// runInsecureApply sends req to each endpoint. With one endpoint, its
// error is the command's, so validation problems print exactly as config
// apply prints them; with several, each failure is printed under its
// endpoint and the command fails with ErrNodeFailed.
func runInsecureApply(ctx context.Context, g *globals, endpoints []string, req *maintenancev1.ApplyConfigRequest) error {
	tr := insecureTransport(g.timeout)
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}
	results := make([]insecureApplyResult, len(endpoints))
	errs := make([]error, len(endpoints))
	for i, ep := range endpoints {
		ep = withDefaultPort(ep)
		results[i].Endpoint = ep
		c := maintenancev1connect.NewMaintenanceServiceClient(hc, "https://"+ep,
			connect.WithGRPC(), connect.WithSendMaxBytes(maxRequestBytes))
		cctx, cancel := context.WithTimeout(ctx, g.timeout)
		res, err := c.ApplyConfig(cctx, connect.NewRequest(req))
		cancel()
		if err != nil {
			errs[i] = maintenanceHint(err)
			results[i].Error = err.Error()
			continue
		}
		results[i].NodeName, results[i].Role = res.Msg.GetNodeName(), res.Msg.GetRole()
	}
	if g.structured() {
		if err := g.printData(results); err != nil {
			return err
		}
	} else {
		for _, r := range results {
			if r.Error == "" {
				fmt.Fprintf(g.streams.Out, "%s: configured as %s (%s); the machine is booting\n", r.Endpoint, r.NodeName, r.Role)
			}
		}
	}
	if len(endpoints) == 1 {
		return errs[0]
	}
	failed := 0
	for i, err := range errs {
		if err == nil {
			continue
		}
		failed++
		if lines, ok := detailLines(err); ok {
			fmt.Fprintf(g.streams.Err, "%s:\n  %s\n", endpoints[i], strings.Join(lines, "\n  "))
		} else {
			fmt.Fprintf(g.streams.Err, "%s: %v\n", endpoints[i], err)
		}
	}
	if failed > 0 {
		return fmt.Errorf("%w: %d of %d", ErrNodeFailed, failed, len(endpoints))
	}
	return nil
}

// insecureTransport speaks HTTP/2 over TLS without verifying the server:
// a machine in maintenance mode has only a certificate it made itself.
func insecureTransport(timeout time.Duration) *http.Transport {
	dialTimeout := min(timeout, 5*time.Second)
	return &http.Transport{
		// Maintenance mode has nothing to verify against (--insecure).
		TLSClientConfig:     &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13},
		ForceAttemptHTTP2:   true,
		DialContext:         (&net.Dialer{Timeout: dialTimeout}).DialContext,
		TLSHandshakeTimeout: dialTimeout,
	}
}

// maintenanceHint says what an unauthenticated or unimplemented answer
// means here: the machine is configured already and serves the node API,
// which wants a client certificate and has no maintenance service.
func maintenanceHint(err error) error {
	if c := connect.CodeOf(err); c == connect.CodeUnimplemented || c == connect.CodeUnauthenticated {
		return withHint(err, "this machine is not in maintenance mode: it has a configuration already; "+
			"change it with 'cairnctl config apply -f FILE'")
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return withHint(err, "is the machine booted without a configuration, and is port 6440 reachable?")
	}
	return err
}
