# The README's two commands. Each one installs the Debian packages it needs,
# configures meson into build/ and compiles before doing its job:
#   make run   start the appliance in the foreground on config/cachebox.conf
#   make test  every test: unit, integration, fuzz smoke
#   make soak  the long runs, hours (docs/testing.md): 200 kill -9 rounds, 10 min per
#              fuzz target, recovery of 10,000 pieces, slowloris at 3,000 connections
# CI (.ci/run) also runs `make test-asan` (ASan+UBSan, -Dwerror=true),
# `make test-nodpdk` (built with -Ddpdk=disabled: the socket backend alone) and
# `make test-deb` (the Debian packages installed, run and purged).

BUILD     ?= build
CONFIG    ?= config/cachebox.conf
FUZZ      ?= 1
MESON_OPTS ?=
SUDO      := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# Everything a fresh Debian 12 machine lacks for building, running and testing.
DEBS := build-essential meson ninja-build pkg-config clang libclang-rt-14-dev clang-format cppcheck \
	liburing-dev libssl-dev openssl libjemalloc-dev libinih-dev libcriterion-dev libjansson-dev \
	nginx aria2 curl wrk gnuplot-nox python3 iproute2 procps util-linux \
	libdpdk-dev dpdk ethtool libseccomp-dev libcap-ng-dev libcurl4-openssl-dev dnsmasq-base isc-dhcp-client dhcpcd-base bsdutils \
	squid apt-utils wget logrotate debhelper lintian fakeroot dpkg-dev systemd chromium python3-websocket \
	scdoc man-db groff-base python3-h11 slowhttptest testssl.sh strace

.PHONY: all deps build install deb run test test-asan test-nodpdk test-deb soak fuzz-merge bench clean

all: build

deps:
	@missing=""; for p in $(DEBS); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		$(SUDO) sh -c 'if [ ! -e /usr/sbin/policy-rc.d ]; then printf "#!/bin/sh\nexit 101\n" > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; trap "rm -f /usr/sbin/policy-rc.d" EXIT; fi; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends '"$$missing"; \
	fi

$(BUILD)/build.ninja:
	meson setup $(BUILD) $(MESON_OPTS)

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)

# Plain `meson install` for those who do not use the packages (DESTDIR honoured).
install: build
	meson install -C $(BUILD) $(if $(DESTDIR),--destdir $(DESTDIR))

# The Debian packages (cachebox, cachebox-client) into build-deb/, built with
# debhelper from a copy of the tree, then checked by lintian (overrides, each
# with its reason, in debian/*.lintian-overrides).
deb: deps
	rm -rf build-deb && mkdir -p build-deb/src
	git ls-files -co --exclude-standard | tar -cf - -T - | tar -xf - -C build-deb/src
	cd build-deb/src && dpkg-buildpackage -b -us -uc -rfakeroot
	lintian --fail-on error --info build-deb/*.changes

# The packages as an admin meets them (tests/package/test_deb.py): installs
# them with apt, runs the installed box as the unit does in a network namespace,
# checks privileges and unit hardening, reinstalls, purges. Changes the machine:
# refuses where cachebox is already installed. CI runs it after make test.
test-deb: deb
	python3 tests/package/test_deb.py

run: build
	@mkdir -p var
	@echo "cachebox: starting on $(CONFIG) (Ctrl-C stops it). In another terminal:"
	@echo "  $(BUILD)/control/cacheboxctl import FILE http://localhost/PATH    # put a file in the cache"
	@echo "  curl -r 0-1023 'http://127.0.0.1:8003/PATH?cacheHostOrigin=localhost'  # fetch a range"
	@echo "  $(BUILD)/control/cacheboxctl status                                # what runs where"
	@echo "  python3 dataplane/cachebox_ask.py 127.0.0.1                        # ask the box (discovery, UDP 8004)"
	exec $(BUILD)/control/cachebox-control --config $(CONFIG)

test: build
	BUILD=$(BUILD) FUZZ=$(FUZZ) tests/run.sh

test-asan:
	$(MAKE) test BUILD=build-asan FUZZ=0 MESON_OPTS="-Dwerror=true -Db_sanitize=address,undefined -Db_lundef=false"

# Everything but DPDK still builds and answers discovery over the socket backend
# (test_discovery*.py); test_dpdk_pcap.py checks that backend = dpdk is refused.
test-nodpdk:
	$(MAKE) build BUILD=build-nodpdk MESON_OPTS="-Ddpdk=disabled -Dwerror=true"
	BUILD=build-nodpdk FUZZ=0 ONLY="discovery dpdk_pcap" tests/run.sh

# Not part of make test; SOAK_ROUNDS, SOAK_FUZZ_SECS, SOAK_PIECES, SOAK_CONNS and
# SOAK_ONLY shorten or pick (tests/soak/run.sh).
soak: build
	BUILD=$(BUILD) tests/soak/run.sh

# Grows tests/fuzz/corpus/: fuzzes each target FUZZ_SECS (default 20) from its
# corpus and regressions, then keeps only inputs that add coverage (-merge=1).
fuzz-merge:
	tests/fuzz/merge.sh

bench: build
	bench/compare.sh

clean:
	rm -rf build build-asan build-fuzz build-nodpdk build-deb var
