# csdr-apiserver developer entry points. `make run` and `make test` are all a newcomer needs.

BUILD_DIR      ?= build
ASAN_BUILD_DIR ?= build-asan
BUILD_TYPE     ?= RelWithDebInfo
CERTS_DIR      ?= certs/dev
BIND_ADDRESS   ?= 127.0.0.1
PORT           ?= 8443
STORAGE        ?= sqlite://./data/csdr.db
VERBOSITY      ?= 2
BINARY         := $(BUILD_DIR)/csdr-apiserver

.PHONY: all deps configure build certs run test unit-test integration-test e2e-test test-asan format-check clean help

all: build

help:
	@echo "make run               install deps, build, make dev certs, serve on https://$(BIND_ADDRESS):$(PORT)"
	@echo "make test              deps, build, unit tests (ctest), integration tests (real kubectl, python client)"
	@echo "make deps|build|certs  the single steps; make test-asan: unit and integration tests under ASan+UBSan"
	@echo "make format-check      clang-format drift check; make clean: remove build output"

deps:
	scripts/install-deps.sh

$(BUILD_DIR)/build.ninja:
	cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE)

configure: $(BUILD_DIR)/build.ninja

build: configure
	cmake --build $(BUILD_DIR)

certs:
	PORT=$(PORT) certs/make-dev-certs.sh $(CERTS_DIR)

run: deps build certs
	mkdir -p data
	@echo
	@echo "csdr-apiserver: serving https://$(BIND_ADDRESS):$(PORT) with storage $(STORAGE). In another shell:"
	@echo
	@echo "    kubectl --kubeconfig $(CERTS_DIR)/kubeconfig get backups"
	@echo
	exec $(BINARY) --bind-address $(BIND_ADDRESS) --secure-port $(PORT) \
	  --tls-cert-file $(CERTS_DIR)/serving.crt --tls-private-key-file $(CERTS_DIR)/serving.key \
	  --client-ca-file $(CERTS_DIR)/ca.crt --storage $(STORAGE) --v $(VERBOSITY)

# The storage tests run their etcd suites on Debian's etcd (3.4) and on etcd 3.6, which
# test/e2e/build_kube.sh builds from Go modules once and caches (the e2e tier uses it too).
# A failed build fails the target (the etcd36 tests would otherwise skip).
ETCD36_ENV = etcd36="$$(test/e2e/build_kube.sh | sed -n 's/^CSDR_ETCD=//p')" && \
  test -x "$$etcd36" && CSDR_ETCD36_BIN="$$etcd36"

unit-test:
	$(ETCD36_ENV) ctest --test-dir $(BUILD_DIR) --output-on-failure

integration-test:
	$(ETCD36_ENV) CSDR_APISERVER=$(BINARY) test/integration/run.sh

# A real kube-apiserver (built from Go modules once, cached outside the checkout) with etcd.
e2e-test:
	CSDR_APISERVER=$(BINARY) CSDR_E2E_REQUIRE_BINARY=1 test/e2e/run.sh

test: deps build format-check
	$(MAKE) --no-print-directory unit-test
	$(MAKE) --no-print-directory integration-test
	$(MAKE) --no-print-directory e2e-test
	$(MAKE) --no-print-directory fuzz-smoke
	$(MAKE) --no-print-directory test-asan

# The whole suite again under AddressSanitizer and UndefinedBehaviorSanitizer: the unit tests
# and every integration suite against the sanitized binary (the kubectl suite with one kubectl:
# the other eight drive the same server code). A sanitizer report makes the server exit
# non-zero, which the integration harness fails on.
ASAN_ENV := ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
test-asan: deps
	cmake -S . -B $(ASAN_BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCSDR_SANITIZE=ON
	cmake --build $(ASAN_BUILD_DIR)
	$(ETCD36_ENV) $(ASAN_ENV) ctest --test-dir $(ASAN_BUILD_DIR) --output-on-failure
	$(ASAN_ENV) CSDR_APISERVER=$(ASAN_BUILD_DIR)/csdr-apiserver CSDR_IT_SANITIZED=1 CSDR_KUBECTLS=/usr/bin/kubectl CSDR_IT_WATCHES=1000 \
	  test/integration/run.sh

# libFuzzer targets (clang, ASan+UBSan) in their own build; docs/hardening.md. fuzz-smoke: about
# 10 s per target (run by `make test`); fuzz: 5 minutes per target.
.PHONY: fuzz fuzz-smoke
fuzz-smoke fuzz:
	cmake -S test/fuzz -B build-fuzz -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_C_COMPILER=clang
	cmake --build build-fuzz
	test/fuzz/run.sh build-fuzz $(if $(filter fuzz,$@),long,smoke)

# Fails when a tracked C++ file differs from what clang-format makes of it (.clang-format at the top).
format-check:
	@if [ ! -f .clang-format ]; then echo "format-check: no .clang-format yet, nothing to check"; exit 0; fi; \
	files=$$(git ls-files '*.cc' '*.cpp' '*.h' '*.hpp'); \
	if [ -z "$$files" ]; then echo "format-check: no C++ files"; exit 0; fi; \
	clang-format --dry-run --Werror $$files && echo "format-check: clean"

clean:
	rm -rf $(BUILD_DIR) $(ASAN_BUILD_DIR)

# Benchmarks (issue 7; test/bench/, docs/benchmarks.md). `make bench`: csdr-apiserver against
# kube-apiserver + CRDs, sample-apiserver, a controller-runtime webhook, nginx and SQLite's
# group-commit ceiling in one run (under 20 minutes on 2 cores); it rewrites docs/benchmarks.md.
# The peers are built from Go modules into ~/.cache/csdr-bench (CSDR_BENCH_CACHE).
# `make bench-smoke`: every system starts and answers one request, no timing; `make test` runs it.
.PHONY: bench bench-smoke bench-deps
bench-deps:
	test/bench/install-deps.sh

bench bench-smoke: deps bench-deps configure
	cmake --build $(BUILD_DIR) --target csdr-apiserver
	CSDR_APISERVER=$(BINARY) /usr/bin/python3 test/bench/run.py $(if $(filter bench-smoke,$@),--smoke)

test: bench-smoke
