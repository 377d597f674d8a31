#!/usr/bin/env bash
# tests/clients/secrets.sh — a database password through the module, read by real
# clients: pkcs11-tool (OpenSC) and Java 17 SunPKCS11 (docs/SECRETS.md).
#
#   eval "$(ci/softhsm/setup DIR [--software])"
#   tests/clients/secrets.sh [--hardware|--software]
#
# The CLI (`kmsbridge secret create --type database`, then `secret put`, user PIN from
# KMSBRIDGE_USER_PIN) stores two versions of a PostgreSQL credential (JSON, random
# passwords). pkcs11-tool --read-object --type data --label NAME must print exactly the
# second (ACSCurrent) version. java/P11Secret.java logs in through the SunPKCS11
# KeyStore, finds the CKO_DATA object by CKA_LABEL through the provider's PKCS#11
# wrapper (SunPKCS11 has no public view of data objects), reads CKA_VALUE, parses the
# JSON and prints the password's SHA-256, compared here with the one put; its version id
# must be the one `kmsbridge secret get --json` names, and no password may appear in its
# output. SoftHSM2 (--direct) has no secrets: the suite skips.
source "$(dirname "$0")/lib.sh"
parse_args "$@"
cd "$WORK"

[ "$TARGET" = direct ] && skip_suite "SoftHSM2 has no secrets"

TOOL=${KMSBRIDGE_CLI:-$REPO_ROOT/target/release/kmsbridge}
NAME=clients/orders-$RUN/db
export KMSBRIDGE_USER_PIN=$P11_USER_PIN KMSBRIDGE_TOKEN_LABEL=$TOKEN_LABEL KMSBRIDGE_MODULE=$MODULE

# credential PASSWORD — a PostgreSQL credential as AWS writes it.
credential() {
  printf '{"engine":"postgres","host":"127.0.0.1","port":5432,"username":"orders_app","password":"%s","dbname":"orders"}' "$1"
}
# A password with JSON-escaped characters, to check the parsing end to end.
PW1=$(od -An -N18 -tx1 /dev/urandom | tr -d ' \n')
PW2="Q$(od -An -N18 -tx1 /dev/urandom | tr -d ' \n')-\\\"x"
credential "$PW1" > cred1.json
credential "$PW2" > cred2.json
# The password as the application must see it: JSON-unescaped.
jq -j .password cred2.json > pw2.txt
WANT_SHA=$(sha256sum pw2.txt | cut -d' ' -f1)

store() {
  [ -x "$TOOL" ] || { echo "$TOOL missing: cargo build --release -p kmsbridge-cli"; return 1; }
  "$TOOL" secret create "$NAME" --type database --description "orders database" --value-file cred1.json
  "$TOOL" secret put "$NAME" --value-file cred2.json
  "$TOOL" secret get "$NAME" --json > current.json
  jq -r .version_id current.json > version.txt
  [ -s version.txt ]
  jq -e '.stages | index("ACSCurrent")' current.json
  "$TOOL" secret get "$NAME" --stage ACSPrevious --field password | cmp - <(printf %s "$PW1")
}
check "kmsbridge secret create --type database, secret put: two versions" store
[ -s version.txt ] || summary

read_object() {
  p11l --read-object --type data --label "$NAME" -o p11tool.out
  cmp p11tool.out cred2.json
}
check "pkcs11-tool --read-object --type data --label NAME: the ACSCurrent credential" read_object

if [ -z "${JAVA_HOME:-}" ] && [ -x /usr/lib/jvm/java-17-openjdk-amd64/bin/javac ]; then
  JAVA_HOME=/usr/lib/jvm/java-17-openjdk-amd64
fi
JAVA=${JAVA_HOME:+$JAVA_HOME/bin/}java
JAVAC=${JAVA_HOME:+$JAVA_HOME/bin/}javac
EXPORTS="--add-modules jdk.crypto.cryptoki --add-exports jdk.crypto.cryptoki/sun.security.pkcs11.wrapper=ALL-UNNAMED"
echo "# $("$JAVA" -version 2>&1 | head -1)"

compile() { "$JAVAC" $EXPORTS -d "$WORK/classes" "$CLIENTS_DIR/java/P11Secret.java"; }
setup_step "javac P11Secret.java" compile

slot_lookup() { SLOT=$(slot_id_of "$TOKEN_LABEL"); [ -n "$SLOT" ] && echo "$SLOT" > slot.txt; }
setup_step "find the slot of token '$TOKEN_LABEL' (pkcs11-tool -L)" slot_lookup
cat > pkcs11.cfg <<EOF
name = KmsBridgeSecrets
library = $MODULE
slot = $(cat slot.txt)
EOF

# P11Secret prints "PASS name" / "FAIL name: why" / "# comment", "SHA256 hex", "VERSION id".
"$JAVA" $EXPORTS -cp "$WORK/classes" P11Secret "$WORK/pkcs11.cfg" "$NAME" > java.out 2>&1   # PIN: $P11_USER_PIN
rc=$?
count_program_lines java.out "java: "
if [ $rc -ne 0 ] && ! grep -q '^FAIL ' java.out; then
  echo "FAIL java P11Secret exited $rc without reporting a failed check"
  FAILED=$((FAILED + 1))
fi

same_password() {
  got=$(sed -n 's/^SHA256 //p' java.out)
  echo "java: $got, put: $WANT_SHA"
  [ "$got" = "$WANT_SHA" ]
}
check "Java's SHA-256 of the password is that of the password put" same_password
same_version() { [ "$(sed -n 's/^VERSION //p' java.out)" = "$(cat version.txt)" ]; }
check "Java read the ACSCurrent version (kmsbridge secret get --json)" same_version
# The test program's own hygiene, not the module's: a set-up step.
no_password() { ! grep -qF -- "${PW2%%-*}" java.out && ! grep -qF -- "$PW1" java.out; }
setup_step "no password in the Java program's output" no_password
summary
