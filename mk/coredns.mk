# The cluster DNS (tools/coredns: CoreDNS from its Go module with the
# plugins a Cairn cluster uses), static, into _out/bin/coredns; included by
# the root Makefile. A cold build takes a couple of minutes on 2 cores, the
# Go build cache makes later ones take seconds.

.PHONY: coredns
coredns: ## build CoreDNS (pinned in tools/coredns/go.mod) into _out/bin/coredns, static
	@mkdir -p $(OUT)
	cd tools/coredns && CGO_ENABLED=0 $(GO) build -trimpath -buildvcs=false -ldflags "-s -w" -o $(CURDIR)/$(OUT)/coredns .
