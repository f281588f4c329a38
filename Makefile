# pgpulse — plain GNU Makefile.
#
#   make            build ./pgpulse (release: -O2, warnings are errors)
#   make SAN=1      build with AddressSanitizer + UndefinedBehaviorSanitizer
#   make test       build and run every test (unit + integration against a private PostgreSQL)
#   make run        start a private PostgreSQL, initialise it, load DATA=file if given
#   make deps       install the Debian packages the project needs (only what is missing)
#   make deps-citus build and install Citus from its source (root, once; docs/scaling.md)
#   make fuzz       run each libFuzzer target for FUZZ_SECONDS (clang)
#   make bench      run the benchmarks in bench/ (slow; writes docs/benchmarks.md)
#   make bench-serve the dashboard's server under 200 SSE clients and an API load (bench/serve)
#   make bench-learn online learning: Elec2 beside scikit-learn, learners per core, the simulator (bench/learn)
#   make bench-query the canned analyses on 7 days of 50 robots, beside the raw tables (bench/query)
#   make bench-warehouse the warehouse stage: beside pg_recvlogical, alone, refresh, late rows (bench/warehouse)
#   make bench-citus pgpulse on Citus (2 and 4 workers) beside one PostgreSQL: ingest, consumer (bench/citus)
#   make bench-soak run everything for 30 minutes at 10,000 rows/s, watched (bench/soak)

CC       ?= gcc
PG_INC   := $(shell pg_config --includedir 2>/dev/null || echo /usr/include/postgresql)
MODE     := $(if $(filter 1,$(SAN)),san,rel)
BUILD    ?= build
B        := $(BUILD)/$(MODE)

CSTD     := -std=c17 -D_DEFAULT_SOURCE -D_POSIX_C_SOURCE=200809L
WARN     := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wvla
CFLAGS   ?= -O2 -g
ifeq ($(MODE),san)
CFLAGS   := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
LDFLAGS  += -fsanitize=address,undefined
endif
# cairo: the report's figures and PDF (src/plot.c).
CAIRO_CFLAGS := $(shell pkg-config --cflags cairo fontconfig 2>/dev/null)
CAIRO_LIBS   := $(shell pkg-config --libs cairo fontconfig 2>/dev/null || echo -lcairo -lfontconfig)
ALL_CFLAGS := $(CSTD) $(WARN) $(CFLAGS) -Isrc -I$(B)/gen -I$(PG_INC) $(CAIRO_CFLAGS) -MMD -MP
LIBS     := -lpq -ljansson -lmicrohttpd $(CAIRO_LIBS) -lm

# Every src/*.c except main.c is library code shared by the binary and the tests.
LIB_SRC  := $(filter-out src/main.c,$(wildcard src/*.c))
LIB_OBJ  := $(patsubst src/%.c,$(B)/src/%.o,$(LIB_SRC)) $(B)/gen/sql_embed.o $(B)/gen/profile_embed.o \
            $(B)/gen/webassets.o $(B)/gen/query_embed.o
SQL      := $(sort $(wildcard sql/*.sql))

UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(patsubst tests/unit/%.c,$(B)/tests/unit/%,$(UNIT_SRC))
INT_SRC  := $(wildcard tests/integration/test_*.c)
INT_BIN  := $(patsubst tests/integration/%.c,$(B)/tests/integration/%,$(INT_SRC))
INT_LIB  := $(B)/tests/integration/harness.o $(B)/tests/integration/faultproxy.o $(B)/tests/integration/httpc.o

.PHONY: all test test-unit test-integration run deps deps-citus bench-deps bench bench-build bench-serve fuzz clean FORCE
.DELETE_ON_ERROR:
.SECONDARY:

all: pgpulse

# ./pgpulse is a copy of the last mode built, so `make` after `make SAN=1` swaps it back.
pgpulse: $(B)/pgpulse FORCE
	@cmp -s $< $@ || { cp $< $@.tmp && mv -f $@.tmp $@; }

$(B)/pgpulse: $(B)/src/main.o $(LIB_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

$(B)/src/%.o: src/%.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/%/gen/sql_embed.c: $(SQL) scripts/embed_sql.sh
	@mkdir -p $(@D)
	scripts/embed_sql.sh $(SQL) > $@

$(B)/gen/sql_embed.o: $(B)/gen/sql_embed.c
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

# The canned analyses (`pgpulse query`, GET /api/query/NAME): sql/queries/NAME.sql.
QUERIES  := $(sort $(wildcard sql/queries/*.sql))
$(BUILD)/%/gen/query_embed.c: $(QUERIES) scripts/embed_queries.sh
	@mkdir -p $(@D)
	scripts/embed_queries.sh $(QUERIES) > $@

$(B)/gen/query_embed.o: $(B)/gen/query_embed.c
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

# The simulator's built-in profile (fitted from the workshop's export: see docs/simulator.md).
$(BUILD)/%/gen/profile_embed.c: profiles/default.json scripts/embed_file.sh
	@mkdir -p $(@D)
	scripts/embed_file.sh genprof_default_json profiles/default.json > $@

$(B)/gen/profile_embed.o: $(B)/gen/profile_embed.c
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

# The dashboard (web/, and uPlot from web/node_modules: `make deps` runs npm ci) as byte arrays.
WEB_FILES := $(shell find web -type f ! -path 'web/node_modules/*' ! -name 'package*.json' 2>/dev/null)
$(BUILD)/%/gen/webassets.c: $(WEB_FILES) $(wildcard web/node_modules/uplot/dist/uPlot.*) scripts/embed_web.sh
	@mkdir -p $(@D)
	scripts/embed_web.sh web > $@.tmp && mv $@.tmp $@

$(B)/gen/webassets.o: $(B)/gen/webassets.c
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(B)/tests/%.o: tests/%.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -Itests -c -o $@ $<

$(B)/tests/unit/%: $(B)/tests/unit/%.o $(LIB_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ -lcmocka $(LIBS)

# The integration tests' fault proxy (tests/integration/faultproxy.c) runs in a thread.
$(B)/tests/integration/%: $(B)/tests/integration/%.o $(INT_LIB) $(LIB_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ -lcmocka $(LIBS) -lpthread

deps:
	@scripts/deps.sh

bench-deps:
	@scripts/deps.sh --bench

# Citus (distributed PostgreSQL) for docs/scaling.md and its tests; root, once a machine, ~5 min.
deps-citus:
	@scripts/deps-citus.sh

test: deps
	@$(MAKE) --no-print-directory pgpulse $(UNIT_BIN) $(INT_BIN)
	@tests/run.sh $(B)

test-unit: pgpulse $(UNIT_BIN)
	@tests/run.sh --unit $(B)

run: deps
	@$(MAKE) --no-print-directory pgpulse
	./pgpulse run $(if $(DATA),--data '$(DATA)') $(if $(ROBOT),--robot $(ROBOT)) $(if $(ASSETS),--assets '$(ASSETS)') $(if $(LISTEN),--listen '$(LISTEN)')

FUZZ_SECONDS ?= 60
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN := $(patsubst tests/fuzz/%.c,build/fuzz/%,$(FUZZ_SRC))
FUZZ_LIB := $(filter-out src/main.c,$(wildcard src/*.c))
# UBSan must abort (not just print) for libFuzzer to count undefined behaviour as a crash.
FUZZ_CFLAGS := $(CSTD) -g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined \
               -fno-sanitize-recover=all

build/fuzz/%: tests/fuzz/%.c $(FUZZ_LIB) $(wildcard src/*.h) build/rel/gen/sql_embed.c build/rel/gen/profile_embed.c build/rel/gen/webassets.c build/rel/gen/query_embed.c
	@mkdir -p $(@D)
	clang $(FUZZ_CFLAGS) -Isrc -Ibuild/rel/gen -I$(PG_INC) $(CAIRO_CFLAGS) -o $@ $< $(FUZZ_LIB) build/rel/gen/sql_embed.c build/rel/gen/profile_embed.c build/rel/gen/webassets.c build/rel/gen/query_embed.c $(LIBS)

# Each target runs FUZZ_SECONDS over its seeds and the corpus kept from earlier runs; its output
# goes to build/fuzz/<target>.log and a crashing input to build/fuzz/<target>-crash-*. The
# first target that fails stops the run with a non-zero status.
fuzz: $(FUZZ_BIN)
	@for f in $(FUZZ_BIN); do \
	  n=$$(basename $$f); mkdir -p build/fuzz/corpus/$$n; \
	  echo "== $$n ($(FUZZ_SECONDS) s)"; \
	  $$f -max_total_time=$(FUZZ_SECONDS) -max_len=4096 -print_final_stats=1 \
	      -artifact_prefix=build/fuzz/$$n- \
	      build/fuzz/corpus/$$n tests/fuzz/seeds/$$n >build/fuzz/$$n.log 2>&1; \
	  rc=$$?; tail -n 12 build/fuzz/$$n.log; \
	  if [ $$rc -ne 0 ]; then echo "!! $$n failed (exit $$rc): see build/fuzz/$$n.log"; exit 1; fi; \
	done

# Benchmarks: bench/*.c are small C programs linked with the library objects (bench/copyloop
# is the raw COPY BINARY loop that pgpulse ingest is measured against). bench/ingest builds
# what it needs itself, so it can also be run directly. `make bench BENCH_ARGS="--rows 100000"`
# is a quick run that leaves docs/benchmarks.md alone. bench/gen (the simulator's throughput and
# rate accuracy, some 5 minutes) runs after it, or alone with `make bench-gen`;
# BENCH_GEN_ARGS="--seconds 15 --no-db" shortens it (and leaves docs/benchmarks.md alone too).
# bench/stream (the stream consumers beside pg_recvlogical, shards, polling, commit-to-stage
# latency; some 4 minutes) runs after it, or alone with `make bench-stream`;
# BENCH_STREAM_ARGS="--rows 200000 --reps 1 --seconds 8" shortens it (docs left alone too).
# bench/detect/run (detection accuracy on the simulator and NAB, detector and replay speed
# beside pandas and scikit-learn, live latency; some 6 minutes) runs last, or alone with
# `make bench-detect`; BENCH_DETECT_ARGS="--quick" shortens it (docs left alone too).
# bench/soak (`pgpulse run` with every stage and the simulator at 10,000 rows/s for 30 minutes,
# watched: memory, lag, WAL, error lines, every row accounted for) is not part of `make bench`:
# run it alone with `make bench-soak` (some 32 minutes; about 10 GB free in $TMPDIR, see
# bench/soak --help); BENCH_SOAK_ARGS="--minutes 3 --no-doc" shortens it.
.PHONY: bench-gen bench-stream bench-detect bench-soak bench-learn bench-query bench-warehouse \
        bench-citus
BENCH_BIN := $(B)/bench/copyloop $(B)/bench/detect_cores $(B)/bench/learn_cores $(B)/bench/learn_sim \
             $(B)/bench/warehouse_bench

$(B)/bench/%.o: bench/%.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(B)/bench/%: $(B)/bench/%.o $(LIB_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

bench-build: pgpulse $(BENCH_BIN)

bench: bench-deps bench-build
	bench/ingest $(BENCH_ARGS)
	bench/gen $(BENCH_GEN_ARGS)
	bench/stream $(BENCH_STREAM_ARGS)
	bench/detect/run $(BENCH_DETECT_ARGS)

bench-gen: bench-deps pgpulse
	bench/gen $(BENCH_GEN_ARGS)

bench-stream: bench-deps pgpulse
	bench/stream $(BENCH_STREAM_ARGS)

bench-detect: bench-deps bench-build
	bench/detect/run $(BENCH_DETECT_ARGS)

bench-learn: bench-deps bench-build
	bench/learn/run $(BENCH_LEARN_ARGS)

# bench/query builds the issue's data set (7 days of 50 robots at 1 Hz, through the warehouse
# stage: 20-60 minutes) unless BENCH_QUERY_ARGS="--home DIR" names one built before;
# BENCH_QUERY_ARGS="--quick" (10 robots x 1 day) leaves docs/benchmarks.md alone.
bench-query: bench-deps pgpulse
	bench/query $(BENCH_QUERY_ARGS)

# bench/warehouse (some 6-10 minutes): 1 M readings of 50 robots at 1 Hz read by pg_recvlogical
# and consumers with the warehouse stage, refresh, the stage alone (bench/warehouse_bench) and
# late rows; BENCH_WAREHOUSE_ARGS="--seconds 3600 --reps 1" is a quick run (docs left alone).
bench-warehouse: bench-deps bench-build
	bench/warehouse $(BENCH_WAREHOUSE_ARGS)

bench-serve: bench-deps pgpulse
	bench/serve/run $(BENCH_SERVE_ARGS)

# bench/citus (some 5 minutes; needs Citus, `make deps-citus`, and says so without it): one
# PostgreSQL, then Citus with 2 and 4 workers on this machine; ingest through the coordinator
# beside bench/copyloop, the consumer (live, all stages) beside pg_recvlogical on every node.
# BENCH_CITUS_ARGS="--rows 50000 --reps 1 --workers 2" shortens it (docs left alone too).
bench-citus: bench-deps bench-build
	bench/citus $(BENCH_CITUS_ARGS)

bench-soak: bench-deps pgpulse
	bench/soak $(BENCH_SOAK_ARGS)

clean:
	rm -rf build pgpulse

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
