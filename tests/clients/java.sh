#!/usr/bin/env bash
# tests/clients/java.sh — Java 17 SunPKCS11 against a PKCS#11 module.
#
#   eval "$(ci/softhsm/setup DIR)"
#   tests/clients/java.sh            # through kmsbridge ($KMSBRIDGE_MODULE)
#   tests/clients/java.sh --direct   # SoftHSM2 directly, to validate the suite
#
# Compiles java/P11Check.java with javac and runs it with a SunPKCS11 config
# (library=MODULE, slot=<id of the token>). The program prints PASS/FAIL per check:
# KeyStore load (and refusal of a wrong PIN), AES/GCM/NoPadding (generated key, and a
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
check "javac P11Check.java" compile
[ -f "$WORK/classes/P11Check.class" ] || summary

slot_lookup() { SLOT=$(slot_id_of "$TOKEN_LABEL"); [ -n "$SLOT" ] && echo "slot $SLOT" && echo "$SLOT" > slot.txt; }
check "find the slot of token '$TOKEN_LABEL' (pkcs11-tool -L)" slot_lookup
[ -s slot.txt ] || summary
SLOT=$(cat slot.txt)

cat > pkcs11.cfg <<EOF
name = KmsBridgeTest
library = $MODULE
slot = $SLOT
EOF
echo "# SunPKCS11 config: $(tr '\n' ' ' < pkcs11.cfg)"

# P11Check prints "PASS name" / "FAIL name: why" / "# comment" lines.
"$JAVA" -cp "$WORK/classes" P11Check "$WORK/pkcs11.cfg" "$RUN" > java.out 2>&1   # PIN: $P11_USER_PIN
rc=$?
while IFS= read -r line; do
  case $line in
    PASS\ *) echo "$line"; PASSED=$((PASSED + 1)) ;;
    FAIL\ *) echo "$line"; FAILED=$((FAILED + 1)) ;;
    *) echo "    | $line" ;;
  esac
done < java.out
if [ $rc -ne 0 ] && ! grep -q '^FAIL ' java.out; then
  echo "FAIL java P11Check exited $rc without reporting a failed check"
  FAILED=$((FAILED + 1))
fi
summary
