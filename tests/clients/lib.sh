# tests/clients/lib.sh — shared by the real-client suites in this folder. Sourced, not run.
#
# Each suite drives one PKCS#11 module with a real client (pkcs11-tool, OpenSSL + libp11,
# Java SunPKCS11, p11tool) and counts checks. Target selection:
#
#   SUITE [--direct|--hardware|--software] [--module PATH] [--token-label L] [--pin P]
#         [--so-pin P] [MODULE]
#
#   default     kmsbridge: KMSBRIDGE_MODULE, KMSBRIDGE_TOKEN_LABEL, KMSBRIDGE_USER_PIN, KMSBRIDGE_SO_PIN,
#               on whatever instance the rig in the environment has (hardware if none)
#   --hardware  kmsbridge on a hardware instance (--bridge is the same)
#   --software  kmsbridge on a software instance (keys in-module, the durable store)
#   --direct    SoftHSM2:  SOFTHSM2_MODULE, SOFTHSM2_TOKEN_LABEL, SOFTHSM2_USER_PIN, SOFTHSM2_SO_PIN
#   MODULE      a module path (positional); the other options override single values.
#
# Those variables come from `eval "$(ci/softhsm/setup DIR [--software])"`. When the
# environment has no rig (SOFTHSM2_CONF or KMSBRIDGE_CONF unset), or one of the other kind
# than --hardware/--software asks for, the suite makes its own throw-away rig with
# ci/softhsm/setup (with --software for a software instance). Every rig has a SoftHSM2
# token, so --direct works with either kind.
#
# Outcome per check: PASS, FAIL, or — only against SoftHSM2 directly — XFAIL, when SoftHSM2
# 2.6 itself fails in the documented way (the reason is printed; an XFAIL is neither passed
# nor failed). If SoftHSM2 fails differently from what is documented, it is a FAIL; if it
# unexpectedly succeeds, it is a PASS with a note that the documentation is stale.
# A check is something only the module can make fail. What prepares the checks or tests the
# environment (a compiler, an engine, a slot lookup) is a set-up step: "SETUP name" when
# done, counted apart; a failed set-up step is a FAIL that ends the suite.
# The last line is always "N passed, N failed; set-up: S passed, S failed" (checks, then
# set-up steps); the exit status is non-zero on any failure.

set -u -o pipefail

CLIENTS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$CLIENTS_DIR/../.." && pwd)
SUITE=$(basename "$0" .sh)

PASSED=0
FAILED=0
XFAILED=0
NCHECK=0
SETUP_OK=0
SETUP_FAILED=0

WORK=$(mktemp -d "${TMPDIR:-/tmp}/kmsbridge-$SUITE.XXXXXX")
cleanup_work() { [ -n "${KEEP_WORK:-}" ] && echo "# work dir kept: $WORK" || rm -rf "$WORK"; }
trap cleanup_work EXIT
mkdir -p "$WORK/log"

TARGET=bridge
WANT=
_opt_module= _opt_label= _opt_pin= _opt_so_pin=

# rig_kind — "software" or "hardware": the instance type in $KMSBRIDGE_CONF.
rig_kind() {
  if grep -Eq '^type *= *"software"' "${KMSBRIDGE_CONF:-/dev/null}" 2>/dev/null; then
    echo software
  else
    echo hardware
  fi
}

parse_args() {
  while [ $# -gt 0 ]; do
    case $1 in
      --direct) TARGET=direct; shift ;;
      --bridge|--hardware) TARGET=bridge WANT=hardware; shift ;;
      --software) TARGET=software WANT=software; shift ;;
      --module) _opt_module=$2; shift 2 ;;
      --token-label) _opt_label=$2; shift 2 ;;
      --pin) _opt_pin=$2; shift 2 ;;
      --so-pin) _opt_so_pin=$2; shift 2 ;;
      -h|--help) sed -n '3,30p' "$CLIENTS_DIR/lib.sh" | sed 's/^# \{0,1\}//'; exit 0 ;;
      -*) echo "$SUITE: unknown option $1" >&2; exit 2 ;;
      *) _opt_module=$1; shift ;;
    esac
  done

  local why=
  if [ -z "${SOFTHSM2_CONF:-}" ] || [ -z "${KMSBRIDGE_CONF:-}" ]; then
    why="no rig in the environment"
  elif [ -n "$WANT" ] && [ "$(rig_kind)" != "$WANT" ]; then
    why="the rig in the environment is not a $WANT instance"
  fi
  if [ -n "$why" ]; then
    local kind=${WANT:-hardware} flag=
    [ "$kind" = software ] && flag=--software
    echo "# $why; making a $kind rig with ci/softhsm/setup $flag in $WORK/rig"
    local exports
    exports=$("$REPO_ROOT/ci/softhsm/setup" "$WORK/rig" $flag) || { echo "$SUITE: ci/softhsm/setup failed" >&2; exit 1; }
    eval "$exports"
  fi
  # Through kmsbridge, name the instance type the rig has.
  if [ "$TARGET" != direct ]; then
    TARGET=$([ "$(rig_kind)" = software ] && echo software || echo bridge)
  fi

  if [ "$TARGET" = direct ]; then
    MODULE=${SOFTHSM2_MODULE:-} TOKEN_LABEL=${SOFTHSM2_TOKEN_LABEL:-}
    USER_PIN=${SOFTHSM2_USER_PIN:-} SO_PIN=${SOFTHSM2_SO_PIN:-}
  else
    MODULE=${KMSBRIDGE_MODULE:-$REPO_ROOT/target/release/libkmsbridge.so} TOKEN_LABEL=${KMSBRIDGE_TOKEN_LABEL:-}
    USER_PIN=${KMSBRIDGE_USER_PIN:-} SO_PIN=${KMSBRIDGE_SO_PIN:-}
  fi
  [ -n "$_opt_module" ] && MODULE=$_opt_module
  [ -n "$_opt_label" ] && TOKEN_LABEL=$_opt_label
  [ -n "$_opt_pin" ] && USER_PIN=$_opt_pin
  [ -n "$_opt_so_pin" ] && SO_PIN=$_opt_so_pin
  # A module path equal to SoftHSM2's is the direct target whatever the flags say.
  if [ -n "${SOFTHSM2_MODULE:-}" ] && [ "$(readlink -f "$MODULE" 2>/dev/null)" = "$(readlink -f "$SOFTHSM2_MODULE")" ]; then
    TARGET=direct
  fi

  # Exported so that clients can read them from the environment (pkcs11-tool env:VAR)
  # instead of the command line.
  export P11_MODULE=$MODULE P11_TOKEN_LABEL=$TOKEN_LABEL P11_USER_PIN=$USER_PIN P11_SO_PIN=$SO_PIN

  echo "# $SUITE: target=$TARGET module=$MODULE token=$TOKEN_LABEL"
  if [ ! -e "$MODULE" ]; then
    echo "FAIL set-up: module exists: $MODULE not found (build it: cargo build --release -p kmsbridge)"
    SETUP_FAILED=$((SETUP_FAILED + 1))
    summary
  fi
  if [ -z "$TOKEN_LABEL" ] || [ -z "$USER_PIN" ]; then
    echo "FAIL set-up: environment: token label or user PIN not set (eval \"\$(ci/softhsm/setup DIR)\")"
    SETUP_FAILED=$((SETUP_FAILED + 1))
    summary
  fi
  # Unique per run, so suites can share one token and be re-run.
  RUN=$(date +%H%M%S)-$$
}

# rid — a fresh random CKA_ID in hex
rid() { od -An -N8 -tx1 /dev/urandom | tr -d ' \n'; }

_show_log() {
  echo "    --- last lines of $1"
  tail -n "${2:-20}" "$1" | sed 's/^/    | /'
}

# check NAME CMD [ARGS...] — runs CMD (a command or a shell function) in a subshell with
# errexit on; PASS when it exits 0.
check() {
  local name=$1; shift
  NCHECK=$((NCHECK + 1))
  local log="$WORK/log/$NCHECK.log"
  ( set -e; "$@" ) >"$log" 2>&1
  local rc=$?
  if [ $rc -eq 0 ]; then
    echo "PASS $name"
    PASSED=$((PASSED + 1))
  else
    echo "FAIL $name (exit $rc)"
    _show_log "$log"
    FAILED=$((FAILED + 1))
  fi
  return 0
}

# check_refused NAME PATTERN CMD [ARGS...] — a negative check: PASS when CMD fails AND its
# output matches the extended regex PATTERN, which names the refusal expected from the
# module (a CKR_* code, or the client's text for exactly that code). Any other failure
# (a usage error, a missing input, another code) is a FAIL, as is success.
check_refused() {
  local name=$1 pattern=$2; shift 2
  NCHECK=$((NCHECK + 1))
  local log="$WORK/log/$NCHECK.log"
  ( set -e; "$@" ) >"$log" 2>&1
  local rc=$?
  if [ $rc -eq 0 ]; then
    echo "FAIL $name (accepted, must be refused with /$pattern/)"
    _show_log "$log"
    FAILED=$((FAILED + 1))
  elif grep -Eq -- "$pattern" "$log"; then
    echo "PASS $name (refused: $(grep -Eo -m1 -- "$pattern" "$log"))"
    PASSED=$((PASSED + 1))
  else
    echo "FAIL $name (exit $rc, but not the expected refusal /$pattern/)"
    _show_log "$log"
    FAILED=$((FAILED + 1))
  fi
  return 0
}

# setup_step NAME CMD [ARGS...] — a set-up step (run like `check`): "SETUP NAME" when CMD
# exits 0, counted apart from the checks; otherwise a loud FAIL that ends the suite (the
# checks after it would prove nothing).
setup_step() {
  local name=$1; shift
  NCHECK=$((NCHECK + 1))
  local log="$WORK/log/$NCHECK.log"
  ( set -e; "$@" ) >"$log" 2>&1
  local rc=$?
  if [ $rc -eq 0 ]; then
    echo "SETUP $name"
    SETUP_OK=$((SETUP_OK + 1))
    return 0
  fi
  echo "FAIL set-up: $name (exit $rc)"
  _show_log "$log"
  SETUP_FAILED=$((SETUP_FAILED + 1))
  summary
}

# count_program_lines FILE PREFIX — counts the PASS / FAIL / SETUP lines a test program
# (the Java checks) printed into FILE, echoing them with PREFIX; other lines are indented.
count_program_lines() {
  local line
  while IFS= read -r line; do
    case $line in
      PASS\ *) echo "$2$line"; PASSED=$((PASSED + 1)) ;;
      FAIL\ set-up:*) echo "$2$line"; SETUP_FAILED=$((SETUP_FAILED + 1)) ;;
      FAIL\ *) echo "$2$line"; FAILED=$((FAILED + 1)) ;;
      SETUP\ *) echo "$2$line"; SETUP_OK=$((SETUP_OK + 1)) ;;
      XFAIL\ *) echo "$2$line"; XFAILED=$((XFAILED + 1)) ;;
      *) echo "    | $line" ;;
    esac
  done < "$1"
}

# check_softhsm_deviation NAME REASON PATTERN CMD [ARGS...] — like `check`; but against
# SoftHSM2 directly a failure whose output matches the extended regex PATTERN is the known,
# documented SoftHSM2 2.6 behaviour REASON: reported as XFAIL, not counted. Through kmsbridge
# it is an ordinary check (the provider must get it right).
check_softhsm_deviation() {
  local name=$1 reason=$2 pattern=$3; shift 3
  if [ "$TARGET" != direct ]; then
    check "$name" "$@"
    return 0
  fi
  NCHECK=$((NCHECK + 1))
  local log="$WORK/log/$NCHECK.log"
  ( set -e; "$@" ) >"$log" 2>&1
  local rc=$?
  if [ $rc -eq 0 ]; then
    echo "PASS $name (note: SoftHSM2 passed although documented to fail: $reason — update the suite)"
    PASSED=$((PASSED + 1))
  elif grep -Eq -- "$pattern" "$log"; then
    echo "XFAIL $name — SoftHSM2 deviation: $reason"
    XFAILED=$((XFAILED + 1))
  else
    echo "FAIL $name (exit $rc; not the documented SoftHSM2 failure /$pattern/)"
    _show_log "$log"
    FAILED=$((FAILED + 1))
  fi
  return 0
}

# skip NAME REASON — something this client cannot do at all; printed, not counted.
skip() { echo "SKIP $1 — $2"; }

# find_engine — sets ENGINE_SO to libp11's OpenSSL engine, or fails the suite.
find_engine() {
  local f
  ENGINE_SO=
  for f in /usr/lib/x86_64-linux-gnu/engines-3/pkcs11.so /usr/lib/x86_64-linux-gnu/engines-3/libpkcs11.so \
           "$(openssl version -e 2>/dev/null | sed -n 's/^ENGINESDIR: "\(.*\)"/\1/p')/pkcs11.so"; do
    [ -e "$f" ] && { ENGINE_SO=$f; break; }
  done
  if [ -z "$ENGINE_SO" ]; then
    echo "FAIL set-up: libp11 engine (pkcs11.so) not found; run ci/softhsm/install"
    SETUP_FAILED=$((SETUP_FAILED + 1)); summary
  fi
}

# engine_conf FILE [LINE...] — an OpenSSL configuration loading libp11's engine (found by
# find_engine) with MODULE_PATH = $MODULE; each LINE is added to the engine's section.
engine_conf() {
  local file=$1; shift
  {
    printf '%s\n' "openssl_conf = openssl_init" "[openssl_init]" "engines = engine_section" \
      "[engine_section]" "pkcs11 = pkcs11_section" "[pkcs11_section]" "engine_id = pkcs11" \
      "dynamic_path = $ENGINE_SO" "MODULE_PATH = $MODULE"
    [ $# -eq 0 ] || printf '%s\n' "$@"
    printf '%s\n' "[req]" "distinguished_name = req_dn" "[req_dn]"
  } > "$file"
}

summary() {
  [ "$XFAILED" -gt 0 ] && echo "# $XFAILED known SoftHSM2 deviation(s) (XFAIL) not counted"
  echo "$PASSED passed, $FAILED failed; set-up: $SETUP_OK passed, $SETUP_FAILED failed"
  [ "$FAILED" -eq 0 ] && [ "$SETUP_FAILED" -eq 0 ] && [ "$PASSED" -gt 0 ] && exit 0
  exit 1
}

# skip_suite REASON — the suite has nothing to check on this target: says so and exits 0.
skip_suite() {
  skip "$SUITE" "$1"
  echo "0 passed, 0 failed; set-up: 0 passed, 0 failed"
  exit 0
}

# --- pkcs11-tool helpers (PINs read from the environment, not the command line) ---
p11() { pkcs11-tool --module "$MODULE" --token-label "$TOKEN_LABEL" "$@"; }
p11l() { pkcs11-tool --module "$MODULE" --token-label "$TOKEN_LABEL" --login --pin env:P11_USER_PIN "$@"; }

# slot_id_of LABEL — the slot id (decimal) whose token has LABEL, from pkcs11-tool -L.
slot_id_of() {
  pkcs11-tool --module "$MODULE" -L 2>/dev/null | awk -v want="$1" '
    /^Slot [0-9]+ \(0x[0-9a-fA-F]+\)/ { match($0, /\(0x[0-9a-fA-F]+\)/); id = substr($0, RSTART + 1, RLENGTH - 2) }
    /token label/ { sub(/^[^:]*: /, ""); sub(/[ \t]+$/, ""); if ($0 == want) { print id; exit } }' |
    { read -r hex && printf '%d\n' "$hex"; }
}

# objects_with_id ID [pkcs11-tool args...] — the logged-in `--list-objects` output cut down to
# the objects whose CKA_ID is ID (pkcs11-tool 0.23 filters listings by --type only).
objects_with_id() {
  local id=$1; shift
  p11l --list-objects "$@" 2>/dev/null | awk -v id="$id" '
    /Object;/ { if (hit) printf "%s", blk; blk = ""; hit = 0 }
    { blk = blk $0 "\n" }
    $1 == "ID:" && tolower($2) == tolower(id) { hit = 1 }
    END { if (hit) printf "%s", blk }'
}

# with_inputs FILE... -- CMD [ARGS...] — for negative checks: a refusal proves something only
# if the inputs exist (an earlier failed step must not make a refusal check pass). A missing
# or empty input makes this return 0, which `check_refused` reports as a failure.
with_inputs() {
  while [ $# -gt 0 ] && [ "$1" != -- ]; do
    [ -s "$1" ] || { echo "input $1 missing: the refusal cannot be tested"; return 0; }
    shift
  done
  shift
  "$@"
}
