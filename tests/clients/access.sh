#!/usr/bin/env bash
# tests/clients/access.sh — application access points through real clients: pkcs11-tool
# (OpenSC) and Java SunPKCS11 log in with a client key, as the PIN and through the
# credential file (KMSBRIDGE_CLIENT_KEY_FILE, empty PIN / protected authentication path).
#
#   eval "$(ci/softhsm/setup DIR [--software])"
#   tests/clients/access.sh [--hardware|--software]
#
# Two AES keys of known value are written with the user PIN (the default access point):
# aap-ok-RUN and aap-no-RUN. The SO makes an access point whose policy allows encrypt on
# alias/aap-ok-* only, with the admin tool (`kmsbridge aap create` and
# `kmsbridge aap credential add`, SO PIN from KMSBRIDGE_SO_PIN). Logged in as it, each client must list
# aap-ok and not aap-no, encrypt with aap-ok exactly as OpenSSL / SunJCE do with its
# value, and be refused decrypt with CKR_KEY_FUNCTION_NOT_PERMITTED; the same calls
# under the user PIN succeed, so a refusal is the access point's. SoftHSM2 (--direct)
# has no access points: the suite skips.
source "$(dirname "$0")/lib.sh"
parse_args "$@"
cd "$WORK"

[ "$TARGET" = direct ] && skip_suite "SoftHSM2 has no access points"

TOOL=${KMSBRIDGE_CLI:-$REPO_ROOT/target/release/kmsbridge}
OK_LABEL=aap-ok-$RUN NO_LABEL=aap-no-$RUN OK_ID=$(rid) NO_ID=$(rid)
IV=000102030405060708090a0b0c0d0e0f
head -c 1000 /dev/urandom > data.bin
head -c 32 /dev/urandom > ok.key
head -c 32 /dev/urandom > no.key
cat > policy.toml <<'EOF'
[[statement]]
sid = "clients"
actions = ["encrypt", "sign"]
resources = ["alias/aap-ok-*"]
EOF

# pkcs11-tool logged in with the client key ($P11_CLIENT_KEY) as the PIN.
p11k() { pkcs11-tool --module "$MODULE" --token-label "$TOKEN_LABEL" --login --pin env:P11_CLIENT_KEY "$@"; }

# lists_only OUTPUT_FILE — the listing has aap-ok and not aap-no.
lists_only() {
  grep -q "label: *$OK_LABEL\$" "$1" || { echo "$OK_LABEL not listed"; return 1; }
  ! grep -q "label: *$NO_LABEL\$" "$1" || { echo "$NO_LABEL listed"; return 1; }
}

setup() {
  [ -x "$TOOL" ] || { echo "$TOOL missing: cargo build --release -p kmsbridge-cli"; return 1; }
  p11l --write-object ok.key --type secrkey --key-type AES:32 --id "$OK_ID" --label "$OK_LABEL" --usage-decrypt
  p11l --write-object no.key --type secrkey --key-type AES:32 --id "$NO_ID" --label "$NO_LABEL" --usage-decrypt
  # The user PIN sees both and may decrypt with aap-ok: what the client key is
  # refused below is the access point's doing.
  p11l --list-objects --type secrkey > all.txt
  grep -q "label: *$OK_LABEL\$" all.txt && grep -q "label: *$NO_LABEL\$" all.txt
  p11l --encrypt -m AES-CBC-PAD --id "$OK_ID" --iv $IV -i data.bin -o pin.ct
  p11l --decrypt -m AES-CBC-PAD --id "$OK_ID" --iv $IV -i pin.ct -o pin.pt
  cmp pin.pt data.bin
  "$TOOL" aap create "clients-$RUN" --policy-file policy.toml
  "$TOOL" aap credential add "clients-$RUN" > client.key.txt
  grep -Eq '^kb1\.[0-9a-f]{16}\.[A-Za-z0-9_-]{43}$' client.key.txt
  install -m 600 client.key.txt client.key
}
setup_step "two keys by the user PIN (which may decrypt), an access point by the SO" setup
export P11_CLIENT_KEY=$(cat client.key)
# The same credential id, another secret.
export P11_WRONG_KEY=${P11_CLIENT_KEY%?????}AAAAA
[ "$P11_WRONG_KEY" != "$P11_CLIENT_KEY" ] || P11_WRONG_KEY=${P11_CLIENT_KEY%?????}BBBBB

# ---------------------------------------------------------------- pkcs11-tool, key as PIN
listed() { p11k --list-objects --type secrkey > pin.list; cat pin.list; lists_only pin.list; }
check "pkcs11-tool --pin CLIENT-KEY: $OK_LABEL listed, $NO_LABEL not" listed

encrypt_ok() {
  p11k --encrypt -m AES-CBC-PAD --id "$OK_ID" --iv $IV -i data.bin -o key.ct
  openssl enc -aes-256-cbc -K "$(xxd -p -c 64 ok.key)" -iv $IV -in data.bin | cmp - key.ct
}
check "pkcs11-tool --pin CLIENT-KEY: --encrypt with $OK_LABEL matches OpenSSL" encrypt_ok

check_refused "pkcs11-tool --pin CLIENT-KEY: --decrypt refused with CKR_KEY_FUNCTION_NOT_PERMITTED" \
  "C_DecryptInit failed: rv = CKR_KEY_FUNCTION_NOT_PERMITTED" with_inputs pin.ct -- \
  p11k --decrypt -m AES-CBC-PAD --id "$OK_ID" --iv $IV -i pin.ct -o denied.pt

# pkcs11-tool looks the key up by id first; a key outside the policy is not there.
check_refused "pkcs11-tool --pin CLIENT-KEY: $NO_LABEL is not found" \
  "Secret key not found" \
  p11k --encrypt -m AES-CBC-PAD --id "$NO_ID" --iv $IV -i data.bin -o no.ct

check_refused "pkcs11-tool --pin WRONG-KEY: CKR_PIN_INCORRECT" \
  "C_Login failed: rv = CKR_PIN_INCORRECT" \
  pkcs11-tool --module "$MODULE" --token-label "$TOKEN_LABEL" --login --pin env:P11_WRONG_KEY --list-objects

# ---------------------------------------------------------------- pkcs11-tool, key file
p11f() { KMSBRIDGE_CLIENT_KEY_FILE=$WORK/client.key pkcs11-tool --module "$MODULE" --token-label "$TOKEN_LABEL" "$@"; }
protected() {
  p11f -T | tee token.txt
  grep -q "PIN pad present" token.txt || grep -qi "protected auth" token.txt
  p11f --login --list-objects --type secrkey > file.list
  cat file.list
  lists_only file.list
  p11f --login --encrypt -m AES-CBC-PAD --id "$OK_ID" --iv $IV -i data.bin -o file.ct
  cmp file.ct key.ct
}
check "pkcs11-tool --login, KMSBRIDGE_CLIENT_KEY_FILE (protected path): listed, encrypts" protected

empty_pin() {
  p11f --login --pin "" --list-objects --type secrkey > empty.list
  cat empty.list
  lists_only empty.list
}
check "pkcs11-tool --login --pin '', KMSBRIDGE_CLIENT_KEY_FILE: logs in as the access point" empty_pin

check_refused "pkcs11-tool, KMSBRIDGE_CLIENT_KEY_FILE: --decrypt refused with CKR_KEY_FUNCTION_NOT_PERMITTED" \
  "C_DecryptInit failed: rv = CKR_KEY_FUNCTION_NOT_PERMITTED" with_inputs pin.ct -- \
  p11f --login --decrypt -m AES-CBC-PAD --id "$OK_ID" --iv $IV -i pin.ct -o denied.pt

loose_file() {
  install -m 644 client.key.txt loose.key
  KMSBRIDGE_CLIENT_KEY_FILE=$WORK/loose.key \
    pkcs11-tool --module "$MODULE" --token-label "$TOKEN_LABEL" --login --list-objects
}
check_refused "pkcs11-tool, a key file others may read (0644): refused with CKR_FUNCTION_FAILED" \
  "C_Login failed: rv = CKR_FUNCTION_FAILED" loose_file

# ---------------------------------------------------------------- OpenSSL (libp11 engine)
# The engine reaches the token through a pkcs11: URI with no PIN: the token shows a
# protected authentication path and the module reads the client key from
# KMSBRIDGE_CLIENT_KEY_FILE. (A 64-character client key in `pin-value=` is cut by
# libp11 before it reaches the module: docs/ACCESS.md says to use the key file.)
find_engine
EC_OK=aap-ok-ec-$RUN EC_NO=aap-no-ec-$RUN
ossl_setup() {
  engine_conf ossl.cnf "init = 0"
  p11l --keypairgen --key-type EC:prime256v1 --label "$EC_OK" --id "$(rid)" --usage-sign
  p11l --keypairgen --key-type EC:prime256v1 --label "$EC_NO" --id "$(rid)" --usage-sign
  p11l --read-object --type pubkey --label "$EC_OK" -o ec_ok.der
  openssl pkey -pubin -inform DER -in ec_ok.der -out ec_ok.pem
  openssl dgst -sha256 -binary data.bin > hash.bin
}
setup_step "OpenSSL: two EC keys by the user PIN, the engine configured" ossl_setup
TOKQ=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$TOKEN_LABEL")
ossl() { OPENSSL_CONF=$WORK/ossl.cnf KMSBRIDGE_CLIENT_KEY_FILE=$WORK/client.key openssl "$@"; }
ossl_sign() {
  ossl pkeyutl -sign -engine pkcs11 -keyform engine \
    -inkey "pkcs11:token=$TOKQ;object=$EC_OK;type=private" -in hash.bin -out ec.sig
  openssl pkeyutl -verify -pubin -inkey ec_ok.pem -in hash.bin -sigfile ec.sig
}
check "OpenSSL pkcs11: URI, KMSBRIDGE_CLIENT_KEY_FILE: signs with $EC_OK, verified in software" ossl_sign
ossl_outside() {
  # Control: under the user PIN the same key signs, so what follows is the policy's doing.
  local pinq
  pinq=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$USER_PIN")
  OPENSSL_CONF=$WORK/ossl.cnf openssl pkeyutl -sign -engine pkcs11 -keyform engine \
    -inkey "pkcs11:token=$TOKQ;object=$EC_NO;type=private;pin-value=$pinq" -in hash.bin -out ctl.sig
  [ -s ctl.sig ]
  local rc=0
  ossl pkeyutl -sign -engine pkcs11 -keyform engine \
    -inkey "pkcs11:token=$TOKQ;object=$EC_NO;type=private" -in hash.bin -out no.sig > no.out 2>&1 || rc=$?
  [ ! -s no.sig ] || { cat no.out; echo "signed with a key outside the policy"; return 0; }
  # The engine logged in (as the access point) and found no such key: a failed login
  # would be another refusal, so its output is not shown for the pattern to match.
  if grep -q "Login failed" no.out; then echo "the engine's login failed (not the policy's refusal)"; return 3; fi
  cat no.out
  return $rc
}
check_refused "OpenSSL pkcs11: URI, KMSBRIDGE_CLIENT_KEY_FILE: $EC_NO (outside the policy) is not found" \
  "ERR_ENG_error:object not found" ossl_outside

# ---------------------------------------------------------------- Java SunPKCS11
if [ -z "${JAVA_HOME:-}" ] && [ -x /usr/lib/jvm/java-17-openjdk-amd64/bin/javac ]; then
  JAVA_HOME=/usr/lib/jvm/java-17-openjdk-amd64
fi
JAVA=${JAVA_HOME:+$JAVA_HOME/bin/}java
JAVAC=${JAVA_HOME:+$JAVA_HOME/bin/}javac
java_setup() {
  "$JAVAC" -d "$WORK/classes" "$CLIENTS_DIR/java/P11Access.java"
  SLOT=$(slot_id_of "$TOKEN_LABEL")
  [ -n "$SLOT" ]
  printf 'name = KmsBridgeAccess\nlibrary = %s\nslot = %s\n' "$MODULE" "$SLOT" > pkcs11.cfg
}
setup_step "javac P11Access.java, SunPKCS11 config" java_setup

# run_java MODE [VAR=VALUE...] — P11Access's PASS/FAIL lines counted as checks.
run_java() {
  local mode=$1; shift
  env "$@" "$JAVA" -cp "$WORK/classes" P11Access "$WORK/pkcs11.cfg" "$mode" \
    "$OK_LABEL" "$(xxd -p -c 64 ok.key)" "$NO_LABEL" > "java-$mode.out" 2>&1
  local rc=$?
  count_program_lines "java-$mode.out" ""
  if [ $rc -ne 0 ] && ! grep -q '^FAIL ' "java-$mode.out"; then
    echo "FAIL java P11Access $mode exited $rc without reporting a failed check"
    FAILED=$((FAILED + 1))
  fi
}
run_java pin
run_java file KMSBRIDGE_CLIENT_KEY_FILE="$WORK/client.key"
summary
