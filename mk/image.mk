# The node's container image (rootfs/image), included by the root Makefile.

IMAGE_DIR  := _out/image
IMAGE      ?= cairn/cairnd:$(VERSION)
# The image's fixed timestamp: the last commit's, so a rebuild of the same
# commit gives the same digest (reproducible-builds.org's convention).
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)

.PHONY: image
image: etcd ## build the node image FROM scratch (static cairnd and etcd, nothing else) and docker load it as cairn/cairnd:VERSION
	@mkdir -p $(IMAGE_DIR)
	CGO_ENABLED=0 $(GO) build -trimpath -buildvcs=false -ldflags "$(LDFLAGS)" -o $(IMAGE_DIR)/cairnd ./cmd/cairnd
	SOURCE_DATE_EPOCH=$(SOURCE_DATE_EPOCH) $(GO) run ./rootfs/cmd/mkimage --cairnd $(IMAGE_DIR)/cairnd --etcd $(ETCD) --tag $(IMAGE) --out $(IMAGE_DIR)/cairnd-image.tar
	docker load --input $(IMAGE_DIR)/cairnd-image.tar

# An upgrade bundle for process and container nodes: cairnd alone, built
# as VERSION. Static (CGO_ENABLED=0), for the image has no C library; not
# -trimpath, which leaves -ldflags out of the build information that the
# plan's target version is read from.
BUNDLE_DIR := _out/bundles
.PHONY: bundle
bundle: ## build an upgrade bundle for process and container nodes (static cairnd as VERSION) into _out/bundles/cairnd-VERSION, for 'cairnctl upgrade start'
	@mkdir -p $(BUNDLE_DIR)
	CGO_ENABLED=0 $(GO) build -ldflags "$(LDFLAGS)" -o $(BUNDLE_DIR)/cairnd-$(VERSION) ./cmd/cairnd
	@echo $(BUNDLE_DIR)/cairnd-$(VERSION)
