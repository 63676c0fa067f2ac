# edgegw: the two commands a new user runs are `make demo` and `make test`.
GO      ?= go
BIN     := bin
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
# gosnmp's debug logging compiled out: nothing of it is used, and its calls still cost at scale.
TAGS    := gosnmp_nodebug

.PHONY: all build demo test unit bench fuzz soak packages clean

all: build

build:
	$(GO) build -tags "$(TAGS)" -ldflags "$(LDFLAGS)" -o $(BIN)/ ./cmd/...

# A simulated site (24 SNMP, 4 Modbus devices; mDNS inside a namespace as root) and the gateway on it, for 60 seconds (DEMO_SECONDS).
demo: build
	./scripts/demo.sh

# Every test. As root the real peers (net-snmp, snmpsim, pymodbus, avahi, RabbitMQ, rhea) are installed
# and started first and stopped after (scripts/peers/peers.sh); the run ends with the skipped tests and why.
test:
	./scripts/test.sh

# Unit tests only, no peers (real-peer tests skip outside CI).
unit:
	$(GO) test -short ./...

# .deb and .rpm of edgegw and edgegw-console for linux/amd64 and linux/arm64 in dist/ (nfpm v2.45.2,
# reproducible; ARCHS=amd64 for one architecture). docs/install.md says how to install them.
packages:
	./scripts/packages.sh

# The fault soak (internal/soak, docs/reliability.md): 5,000 simulated devices claimed by a real edgegw
# process while a RabbitMQ of its own restarts, the gateway is SIGKILLed, devices flap, the state dir fills
# up and the clock steps; 0 lost, duplicates counted, versions never backwards; report and plot in
# bin/soak-full/ (or SOAK_REPORT_DIR). 30 minutes; SOAK=quick for the 3-minute one make test runs. Root.
soak:
	SOAK=$${SOAK:-full} $(GO) test -run '^TestSoak$$' -count=1 -v -timeout 45m ./internal/soak/

bench: build
	./scripts/bench.sh

# Every fuzz target in the repository, FUZZTIME (default 10s) each.
fuzz:
	./scripts/fuzz.sh

clean:
	rm -rf $(BIN) dist
