# Everything a developer or CI needs goes through these targets; each builds what it uses.
SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c

GO ?= go
BIN := $(CURDIR)/bin
TOOLS := $(CURDIR)/.cache/tools
CONTROLLER_GEN := $(TOOLS)/controller-gen
BUF := $(TOOLS)/buf
PROTOC_GEN_GO := $(TOOLS)/protoc-gen-go
PROTOC_GEN_GO_GRPC := $(TOOLS)/protoc-gen-go-grpc
LAB_DIR ?= $(CURDIR)/.lab

.PHONY: all build generate manifests verify-generated lab-bins lab-up lab-down run test unit e2e bench fmt vet clean

all: build

$(CONTROLLER_GEN): hack/gotools/go.mod
	cd hack/gotools && GOBIN=$(TOOLS) $(GO) install sigs.k8s.io/controller-tools/cmd/controller-gen

# The protocol generators, pinned in hack/gotools; proto/buf.gen.yaml runs the plugins from $(TOOLS).
$(BUF): hack/gotools/go.mod
	cd hack/gotools && GOBIN=$(TOOLS) $(GO) install github.com/bufbuild/buf/cmd/buf

$(PROTOC_GEN_GO): hack/gotools/go.mod
	cd hack/gotools && GOBIN=$(TOOLS) $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go

$(PROTOC_GEN_GO_GRPC): hack/gotools/go.mod
	cd hack/gotools && GOBIN=$(TOOLS) $(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc

## generate: deepcopy code for the API types; Go code and gRPC stubs for the wire protocol (proto/ into pkg/protocol/).
generate: $(CONTROLLER_GEN) $(BUF) $(PROTOC_GEN_GO) $(PROTOC_GEN_GO_GRPC)
	$(CONTROLLER_GEN) object paths=./apis/...
	find pkg/protocol -name '*.pb.go' -delete
	BUF_CACHE_DIR=$(CURDIR)/.cache/buf $(BUF) generate --template proto/buf.gen.yaml proto

## manifests: CRDs and the controller's RBAC role from kubebuilder markers.
manifests: $(CONTROLLER_GEN)
	$(CONTROLLER_GEN) crd paths=./apis/... output:crd:artifacts:config=config/crd/bases
	$(CONTROLLER_GEN) rbac:roleName=jumpstarter-controller paths=./pkg/... output:rbac:artifacts:config=config/rbac

## verify-generated: fails when generated files are not what the markers say.
verify-generated: generate manifests
	@git diff --exit-code -- apis config pkg/protocol || { echo "generated files are stale: run make generate manifests and commit" >&2; exit 1; }
	@test -z "$$(git status --porcelain -- apis config pkg/protocol)" || { git status --porcelain -- apis config pkg/protocol; echo "generated files are not committed" >&2; exit 1; }

## build: every binary of the service into bin/.
build:
	$(GO) build -o $(BIN)/ ./cmd/...

## lab-bins: etcd, kube-apiserver, kube-controller-manager and kubectl, cached by version.
lab-bins:
	@hack/build-lab-bins.sh >/dev/null

## lab-up: start the local lab in the background; the kubeconfig is .lab/kubeconfig.
lab-up: build lab-bins
	$(BIN)/lab up --dir $(LAB_DIR) --lab-bin $$(hack/build-lab-bins.sh) --bin $(BIN)

## lab-down: stop every process of the local lab.
lab-down:
	@if [[ -x $(BIN)/lab ]]; then $(BIN)/lab down --dir $(LAB_DIR); else $(GO) run ./cmd/lab down --dir $(LAB_DIR); fi

## run: the local lab in the foreground with a demo exporter and sample leases; Ctrl-C stops it.
run: build lab-bins
	$(BIN)/lab run --dir $(LAB_DIR) --lab-bin $$(hack/build-lab-bins.sh) --bin $(BIN) --demo

## test: every test: generated files, unit tests, then end-to-end tests against the local lab.
test: verify-generated build lab-bins unit e2e

unit: build lab-bins
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); if [[ -n "$$unformatted" ]]; then echo "gofmt needed (make fmt):"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	LAB_BIN=$$(hack/build-lab-bins.sh) JUMPSTARTER_BIN=$(BIN) $(GO) test -count=1 ./apis/... ./pkg/... ./cmd/...

e2e: build lab-bins
	LAB_BIN=$$(hack/build-lab-bins.sh) JUMPSTARTER_BIN=$(BIN) $(GO) test -count=1 -timeout 30m ./e2e/...

## bench: benchmark tables: lease scheduling against the local lab (e2e/bench), then the router
## (e2e/bench/router); one package at a time (-p 1) so that they do not compete for the CPU.
bench: build lab-bins
	LAB_BIN=$$(hack/build-lab-bins.sh) JUMPSTARTER_BIN=$(BIN) $(GO) test -p 1 -count=1 -timeout 60m -run '^$$' -bench . -benchtime 1x ./e2e/bench/...

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf $(BIN) $(LAB_DIR)
