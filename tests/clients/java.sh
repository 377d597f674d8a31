#!/usr/bin/env bash
# tests/clients/java.sh — Java 17 SunPKCS11 against a PKCS#11 module.
#
#   eval "$(ci/softhsm/setup DIR)"
#   tests/clients/java.sh            # through kmsbridge ($KMSBRIDGE_MODULE)
#   tests/clients/java.sh --direct   # SoftHSM2 directly, to validate the suite
#
# Set-up (not counted as checks): javac P11Check.java, the token's slot (pkcs11-tool -L),
# a private AES key written with pkcs11-tool that only a logged-in session sees, and the
# SunPKCS11 provider configured with library=MODULE, slot=<id of the token>. The program
# prints PASS/FAIL per check:
# KeyStore load (its login shows the private key; a wrong PIN is refused with
# CKR_PIN_INCORRECT), AES/GCM/NoPadding (generated key, a tampered tag refused, and a
# known key cross-checked with SunJCE), SHA256withRSA, RSASSA-PSS, SHA256withRSASSA-PSS,
# SHA256withECDSA with key pairs generated through the provider (each signature verified
# by SunRsaSign/SunEC; tampered messages must fail), a secret key stored as a token object
# through the KeyStore. JAVA_HOME selects the JDK (default: java-17 if present, else PATH).
source "$(dirname "$0")/lib.sh"
parse_args "$@"
cd "$WORK"

if [ -z "${JAVA_HOME:-}" ] && [ -x /usr/lib/jvm/java-17-openjdk-amd64/bin/javac ]; then
  JAVA_HOME=/usr/lib/jvm/java-17-openjdk-amd64
fi
JAVA=${JAVA_HOME:+$JAVA_HOME/bin/}java
JAVAC=${JAVA_HOME:+$JAVA_HOME/bin/}javac
echo "# $("$JAVA" -version 2>&1 | head -1)"

compile() { "$JAVAC" -d "$WORK/classes" "$CLIENTS_DIR/java/P11Check.java"; }
setup_step "javac P11Check.java" compile

slot_lookup() { SLOT=$(slot_id_of "$TOKEN_LABEL"); [ -n "$SLOT" ] && echo "slot $SLOT" && echo "$SLOT" > slot.txt; }
setup_step "find the slot of token '$TOKEN_LABEL' (pkcs11-tool -L)" slot_lookup
SLOT=$(cat slot.txt)

# A private key the KeyStore lists only once its login worked.
PRIVATE_LABEL=java-private-$RUN
private_key() {
  head -c 32 /dev/urandom > private.key
  p11l --write-object private.key --type secrkey --key-type AES:32 --id "$(rid)" \
    --label "$PRIVATE_LABEL" --private --usage-decrypt
}
setup_step "pkcs11-tool writes the private AES key $PRIVATE_LABEL" private_key

cat > pkcs11.cfg <<EOF
name = KmsBridgeTest
library = $MODULE
slot = $SLOT
EOF
echo "# SunPKCS11 config: $(tr '\n' ' ' < pkcs11.cfg)"

# P11Check prints "PASS name" / "FAIL name: why" / "SETUP name" / "# comment" lines.
"$JAVA" -cp "$WORK/classes" P11Check "$WORK/pkcs11.cfg" "$RUN" "$PRIVATE_LABEL" "$TARGET" > java.out 2>&1   # PIN: $P11_USER_PIN
rc=$?
count_program_lines java.out ""
if [ $rc -ne 0 ] && ! grep -q '^FAIL ' java.out; then
  echo "FAIL java P11Check exited $rc without reporting a failed check"
  FAILED=$((FAILED + 1))
fi
summary
