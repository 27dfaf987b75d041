# Cairn — build, test and run. `make help` lists the targets.
SHELL := /usr/bin/env bash
GO    ?= go
OUT   := _out/bin
PKG   := github.com/cairn-project/cairn
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X $(PKG)/internal/version.Version=$(VERSION)

.PHONY: help build test test-unit test-integration fuzz lint bench cluster docker-cluster cluster-restart cluster-destroy
help: ## list targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

build: etcd ## build cairnd, cairnctl and etcd (which cairnd runs from beside itself in process mode) into _out/bin
	@mkdir -p $(OUT)
	$(GO) build -ldflags "$(LDFLAGS)" -o $(OUT)/ ./cmd/...

test: ## the whole suite, as CI runs it (installs what it needs)
	./scripts/test.sh

test-unit: ## fast package tests only
	$(GO) test -count=1 $$($(GO) list ./... | grep -v /integration)

test-integration: build ## black-box multi-node tests against the built binaries
	$(GO) test -count=1 -timeout 20m ./integration/...

fuzz: ## run every Go fuzzer for FUZZTIME each (default 10s; CI runs them so), scripts/fuzz.sh
	./scripts/fuzz.sh

lint: ## go vet, gofmt, import boundaries, buf lint and generated-code freshness
	./scripts/lint.sh

bench: ## run the benchmarks and record them under docs/bench/
	./scripts/bench.sh

-include mk/*.mk

CLUSTER_NAME ?= local
# KUBERNETES=0 skips Kubernetes (its build, and its control plane on the
# nodes) for a start in seconds.
KUBERNETES ?= 1
ifeq ($(KUBERNETES),0)
CLUSTER_DEPS  := build
CLUSTER_FLAGS := --kubernetes=false
else
CLUSTER_DEPS  := build kube
CLUSTER_FLAGS := --kubernetes --wait-timeout 5m
endif
# An existing cluster is started (its stopped or killed nodes) rather than
# refused, so `make cluster` after a reboot brings it back.
cluster: $(CLUSTER_DEPS) ## start a local 3+2 cluster of cairnd processes on loopback, with the Kubernetes control plane (KUBERNETES=0: without; an existing one: start its stopped nodes)
	@if $(OUT)/cairnctl cluster show --name $(CLUSTER_NAME) >/dev/null 2>&1; then \
		echo "cluster $(CLUSTER_NAME) exists: starting its stopped nodes (restart them: make cluster-restart; remove it: make cluster-destroy)"; \
		$(OUT)/cairnctl cluster start --all --wait --name $(CLUSTER_NAME) --cairnd $(OUT)/cairnd; \
	else \
		$(OUT)/cairnctl cluster create --name $(CLUSTER_NAME) --controlplanes 3 --workers 2 --cairnd $(OUT)/cairnd $(CLUSTER_FLAGS); \
	fi

# Kubernetes in node containers: the image is built from a static cairnd
# beside the binaries it ships (kube, the container runtime, CNI, nft).
DOCKER_CLUSTER_NAME ?= dock
docker-cluster: build kube containerd images ## start a local 3+1 cluster of node containers (Docker) running Kubernetes: the control plane and a kubelet on every node
	CGO_ENABLED=0 $(GO) build -trimpath -buildvcs=false -ldflags "$(LDFLAGS)" -o $(OUT)/cairnd.static ./cmd/cairnd
	$(OUT)/cairnctl cluster create --name $(DOCKER_CLUSTER_NAME) --provisioner docker --controlplanes 3 --workers 1 \
		--cairnd $(OUT)/cairnd.static --images $(IMAGES_DIR)/all.tar --image cairn/cairnd:$(VERSION)-k8s --wait-timeout 10m

cluster-restart: build ## restart every node of the local cluster, one after the other (runs a rebuilt cairnd)
	$(OUT)/cairnctl cluster restart --all --wait --name $(CLUSTER_NAME)

cluster-destroy: ## stop the local cluster and remove its state
	$(OUT)/cairnctl cluster destroy --name $(CLUSTER_NAME)
