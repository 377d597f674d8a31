#!/usr/bin/env bash
# tests/clients/openssl.sh — OpenSSL 3 with the libp11 engine against a PKCS#11 module.
#
#   eval "$(ci/softhsm/setup DIR)"
#   tests/clients/openssl.sh            # through kmsbridge ($KMSBRIDGE_MODULE)
#   tests/clients/openssl.sh --direct   # SoftHSM2 directly, to validate the suite
#
# Key pairs are generated on the token with pkcs11-tool; OpenSSL then uses them through
# the engine (`-engine pkcs11 -keyform engine`, keys addressed by pkcs11: URIs, the
# engine's MODULE_PATH set in a private openssl.cnf). Every signature is verified in
# software with the public key read back from the token, and in the same check must not
# verify for a tampered hash (the pair is one check of the token's signature). Loading the
# engine is a set-up step: with `init = 0` it does not touch the module.
source "$(dirname "$0")/lib.sh"
parse_args "$@"
cd "$WORK"

find_engine

engine_conf openssl.cnf "init = 0"
export OPENSSL_CONF=$WORK/openssl.cnf
export PKCS11_MODULE_PATH=$MODULE

pct() { python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$1"; }
RSA_ID=$(rid) EC_ID=$(rid)
RSA_LABEL=ossl-rsa-$RUN EC_LABEL=ossl-ec-$RUN
TOK=$(pct "$TOKEN_LABEL") PINQ=$(pct "$USER_PIN")
RSA_URI="pkcs11:token=$TOK;object=$RSA_LABEL;type=private;pin-value=$PINQ"
EC_URI="pkcs11:token=$TOK;object=$EC_LABEL;type=private;pin-value=$PINQ"
RSA_PUB_URI="pkcs11:token=$TOK;object=$RSA_LABEL;type=public"
EC_PUB_URI="pkcs11:token=$TOK;object=$EC_LABEL;type=public"
E=(-engine pkcs11 -keyform engine)

head -c 1000 /dev/urandom > data.bin
openssl dgst -sha256 -binary data.bin > hash.bin
cp data.bin tampered.bin && printf 'X' | dd of=tampered.bin bs=1 seek=100 conv=notrunc 2>/dev/null
openssl dgst -sha256 -binary tampered.bin > tampered_hash.bin

engine_loads() {
  openssl engine -t -c pkcs11 > eng.txt 2>&1; cat eng.txt
  grep -q "\[ available \]" eng.txt
}
setup_step "engine pkcs11 loads from $ENGINE_SO" engine_loads

gen_keys() {
  p11l --keypairgen --key-type rsa:2048 --id "$RSA_ID" --label "$RSA_LABEL" --usage-sign --usage-decrypt
  p11l --keypairgen --key-type EC:prime256v1 --id "$EC_ID" --label "$EC_LABEL" --usage-sign
  p11 --read-object --type pubkey --id "$RSA_ID" -o rsa_pub.der
  openssl pkey -pubin -inform DER -in rsa_pub.der -out rsa_pub.pem
  p11 --read-object --type pubkey --id "$EC_ID" -o ec_pub.der
  openssl pkey -pubin -inform DER -in ec_pub.der -out ec_pub.pem
  openssl pkey -pubin -in ec_pub.pem -noout -text | grep -q "ASN1 OID: prime256v1"
}
check "pkcs11-tool generates RSA-2048 and P-256 key pairs on the token" gen_keys

selfsigned() { # URI PUB OUT
  openssl req -new -x509 -days 2 -sha256 -subj "/CN=kmsbridge client test $RUN" "${E[@]}" -key "$1" -out "$3"
  openssl x509 -in "$3" -noout -subject | grep -q "kmsbridge client test $RUN"
  openssl verify -CAfile "$3" "$3"                              # the self-signature verifies
  openssl x509 -in "$3" -noout -pubkey | cmp - "$2"            # and it is the token's key
}
check "openssl req -new -x509: self-signed certificate from the token RSA key" selfsigned "$RSA_URI" rsa_pub.pem rsa_cert.pem
check "openssl req -new -x509: self-signed certificate from the token P-256 key" selfsigned "$EC_URI" ec_pub.pem ec_cert.pem

rsa_pkeyutl() {
  openssl pkeyutl -sign "${E[@]}" -inkey "$RSA_URI" -pkeyopt digest:sha256 -in hash.bin -out rsa.sig
  [ "$(stat -c %s rsa.sig)" -eq 256 ]
  openssl pkeyutl -verify -pubin -inkey rsa_pub.pem -pkeyopt digest:sha256 -in hash.bin -sigfile rsa.sig
  ! openssl pkeyutl -verify -pubin -inkey rsa_pub.pem -pkeyopt digest:sha256 -in tampered_hash.bin -sigfile rsa.sig
}
check "pkeyutl -sign RSA (PKCS#1 v1.5, SHA-256) by pkcs11: URI, verified in software (not for a tampered hash)" rsa_pkeyutl
check "pkeyutl -verify RSA with the token public key (pkcs11: URI, type=public)" \
  openssl pkeyutl -verify "${E[@]}" -pubin -inkey "$RSA_PUB_URI" -pkeyopt digest:sha256 -in hash.bin -sigfile rsa.sig

ec_pkeyutl() {
  openssl pkeyutl -sign "${E[@]}" -inkey "$EC_URI" -in hash.bin -out ec.sig
  openssl asn1parse -inform DER -in ec.sig > /dev/null       # a DER ECDSA-Sig-Value
  openssl pkeyutl -verify -pubin -inkey ec_pub.pem -in hash.bin -sigfile ec.sig
  ! openssl pkeyutl -verify -pubin -inkey ec_pub.pem -in tampered_hash.bin -sigfile ec.sig
}
check "pkeyutl -sign ECDSA P-256 by pkcs11: URI, verified in software (not for a tampered hash)" ec_pkeyutl
check "pkeyutl -verify ECDSA with the token public key (pkcs11: URI, type=public)" \
  openssl pkeyutl -verify "${E[@]}" -pubin -inkey "$EC_PUB_URI" -in hash.bin -sigfile ec.sig

rsa_pss() {
  openssl pkeyutl -sign "${E[@]}" -inkey "$RSA_URI" -pkeyopt digest:sha256 \
    -pkeyopt rsa_padding_mode:pss -pkeyopt rsa_pss_saltlen:32 -in hash.bin -out pss.sig
  openssl pkeyutl -verify -pubin -inkey rsa_pub.pem -pkeyopt digest:sha256 \
    -pkeyopt rsa_padding_mode:pss -pkeyopt rsa_pss_saltlen:32 -in hash.bin -sigfile pss.sig
  # PSS is randomised: a second signature differs and verifies too
  openssl pkeyutl -sign "${E[@]}" -inkey "$RSA_URI" -pkeyopt digest:sha256 \
    -pkeyopt rsa_padding_mode:pss -pkeyopt rsa_pss_saltlen:32 -in hash.bin -out pss2.sig
  cmp -s pss.sig pss2.sig && { echo "two PSS signatures are identical"; return 1; }
  openssl pkeyutl -verify -pubin -inkey rsa_pub.pem -pkeyopt digest:sha256 \
    -pkeyopt rsa_padding_mode:pss -pkeyopt rsa_pss_saltlen:32 -in hash.bin -sigfile pss2.sig
}
check "pkeyutl -sign RSA-PSS (SHA-256, salt 32) by pkcs11: URI, verified in software" rsa_pss

dgst_sign() {
  openssl dgst -sha256 -sign "$EC_URI" "${E[@]}" -out dgst.sig data.bin
  openssl dgst -sha256 -verify ec_pub.pem -signature dgst.sig data.bin
  openssl dgst -sha256 -sign "$RSA_URI" "${E[@]}" -out dgst_rsa.sig data.bin
  openssl dgst -sha256 -verify rsa_pub.pem -signature dgst_rsa.sig data.bin
}
check "openssl dgst -sha256 -sign with token keys (EC and RSA), verified in software" dgst_sign

rsa_decrypt() {
  head -c 64 data.bin > small.bin
  openssl pkeyutl -encrypt -pubin -inkey rsa_pub.pem -pkeyopt rsa_padding_mode:pkcs1 -in small.bin -out rsa.ct
  openssl pkeyutl -decrypt "${E[@]}" -inkey "$RSA_URI" -pkeyopt rsa_padding_mode:pkcs1 -in rsa.ct -out rsa.pt
  cmp rsa.pt small.bin
}
check "pkeyutl -decrypt RSA PKCS#1 v1.5 with the token key" rsa_decrypt

wrong_pin_uri() {
  # (libp11 0.4.12 may crash while cleaning up after the failed login; the refusal is what
  # is checked: no signature, and the module's CKR_PIN_INCORRECT reported.)
  local rc=0
  openssl pkeyutl -sign "${E[@]}" -inkey "pkcs11:token=$TOK;object=$EC_LABEL;type=private;pin-value=wrong-pin-0000" \
    -in hash.bin -out bad.sig || rc=$?
  [ ! -s bad.sig ] || { echo "a signature was written"; return 0; }
  return $rc
}
# libp11 reports the module's code as "PKCS#11 module:ERR_CKR_error:PIN incorrect"
# (error 0x...A0 = CKR_PIN_INCORRECT).
check_refused "pkeyutl -sign with a wrong pin-value in the URI is refused: CKR_PIN_INCORRECT" \
  "ERR_CKR_error:PIN incorrect" wrong_pin_uri

summary
