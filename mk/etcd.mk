# The etcd binary the images ship (tools/etcd: etcd's own server main,
# built from go.etcd.io/etcd/server/v3 in a module of its own), included by
# the root Makefile. Static (CGO_ENABLED=0) and -trimpath, like cairnd; the
# Go build cache makes a rebuild of an unchanged etcd take seconds, so the
# target always runs `go build` and lets the cache decide.

ETCD := $(OUT)/etcd

.PHONY: etcd
etcd: ## build etcd (go.etcd.io/etcd/server/v3, pinned in tools/etcd/go.mod) into _out/bin/etcd, static
	@mkdir -p $(OUT)
	cd tools/etcd && CGO_ENABLED=0 $(GO) build -trimpath -buildvcs=false -ldflags "-s -w" -o $(CURDIR)/$(ETCD) .
