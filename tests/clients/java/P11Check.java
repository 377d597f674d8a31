// Real-client check: Java SunPKCS11 against a PKCS#11 module (kmsbridge or
// SoftHSM2 direct). Usage: P11_USER_PIN=... java P11Check CONFIG_FILE RUN_ID PRIVATE_LABEL TARGET
// (TARGET "direct" for SoftHSM2 directly: its documented deviations print XFAIL;
// the PIN comes from the environment, not the command line; PRIVATE_LABEL names a
// private secret key on the token, visible only to a logged-in session).
//
// Prints one line per check, "PASS name" or "FAIL name: why", and exits 1 if
// any check failed; the provider's set-up prints "SETUP name" (or "FAIL set-up: ...").
// Every check asserts a result: crypto made on the token is verified by an
// independent software provider (SunJCE / SunRsaSign / SunEC), tampered inputs must be
// rejected with the module's code for that, so a check cannot pass by accident.

import java.nio.charset.StandardCharsets;
import java.security.*;
import java.security.spec.*;
import java.util.*;
import javax.crypto.*;
import javax.crypto.spec.*;

public class P11Check {
    static int passed = 0, failed = 0;

    interface Check { void run() throws Exception; }

    /** SoftHSM2 2.6's documented deviation: an XFAIL against SoftHSM2 directly, a
     *  failure through kmsbridge (which must answer the specification's code). */
    static class Deviation extends RuntimeException {
        Deviation(String why) { super(why); }
    }

    static boolean direct;

    static void check(String name, Check c) {
        try {
            c.run();
            System.out.println("PASS " + name);
            passed++;
        } catch (Deviation d) {
            if (direct) {
                System.out.println("XFAIL " + name + " — SoftHSM2 deviation: " + d.getMessage());
            } else {
                System.out.println("FAIL " + name + ": " + d.getMessage());
                failed++;
            }
        } catch (Throwable t) {
            String msg = t.toString();
            Throwable cause = t.getCause();
            while (cause != null) { msg += " <- " + cause; cause = cause.getCause(); }
            System.out.println("FAIL " + name + ": " + msg.replace('\n', ' '));
            failed++;
        }
    }

    /** A set-up step: not a check of the module; a failure ends the program. */
    static void setup(String name, Check c) {
        try {
            c.run();
            System.out.println("SETUP " + name);
        } catch (Throwable t) {
            System.out.println("FAIL set-up: " + name + ": " + chain(t).replace('\n', ' '));
            System.exit(1);
        }
    }

    static String chain(Throwable t) {
        String all = "";
        for (Throwable c = t; c != null; c = c.getCause()) all += " <- " + c;
        return all;
    }

    static void require(boolean ok, String what) {
        if (!ok) throw new AssertionError(what);
    }

    static Provider p;
    static KeyStore ks;
    static final SecureRandom rnd = new SecureRandom();

    static byte[] randomBytes(int n) { byte[] b = new byte[n]; rnd.nextBytes(b); return b; }

    /** sign with the token, verify with the token and with a software provider;
     *  a flipped message bit must fail both verifications. */
    static void signVerify(String alg, AlgorithmParameterSpec params, KeyPair kp,
                           String softProvider, String keyAlg) throws Exception {
        signVerify(alg, alg, params, kp, softProvider, keyAlg);
    }

    static void signVerify(String alg, String softAlg, AlgorithmParameterSpec params, KeyPair kp,
                           String softProvider, String keyAlg) throws Exception {
        byte[] msg = randomBytes(1000);
        Signature s = Signature.getInstance(alg, p);
        if (params != null) s.setParameter(params);
        s.initSign(kp.getPrivate());
        s.update(msg);
        byte[] sig = s.sign();
        require(s.getProvider() == p, "signature not made by the PKCS#11 provider");

        Signature v = Signature.getInstance(alg, p);
        if (params != null) v.setParameter(params);
        v.initVerify(kp.getPublic());
        v.update(msg);
        require(v.verify(sig), "token verify of own signature failed");

        // Independent software verification with a copy of the public key.
        PublicKey soft = KeyFactory.getInstance(keyAlg)
            .generatePublic(new X509EncodedKeySpec(kp.getPublic().getEncoded()));
        Signature sv = Signature.getInstance(softAlg, softProvider);
        if (params != null) sv.setParameter(params);
        sv.initVerify(soft);
        sv.update(msg);
        require(sv.verify(sig), "software (" + softProvider + ") verify failed");

        byte[] bad = msg.clone();
        bad[17] ^= 1;
        sv.initVerify(soft);
        sv.update(bad);
        require(!sv.verify(sig), "software verify accepted a tampered message");
        // SunPKCS11 answers false for CKR_SIGNATURE_INVALID (and _LEN_RANGE, impossible
        // here: the length is right); any other code is an exception, a failed check.
        v.initVerify(kp.getPublic());
        v.update(bad);
        require(!v.verify(sig), "token verify accepted a tampered message");
    }

    public static void main(String[] args) throws Exception {
        String pinEnv = System.getenv("P11_USER_PIN");
        if (args.length != 4 || pinEnv == null || pinEnv.isEmpty()) {
            System.err.println("usage: P11_USER_PIN=... java P11Check CONFIG_FILE RUN_ID PRIVATE_LABEL direct|bridge");
            System.exit(2);
        }
        direct = args[3].equals("direct");
        String cfg = args[0];
        char[] pin = pinEnv.toCharArray();
        String run = args[1], privateLabel = args[2];

        setup("provider: SunPKCS11 configured with " + cfg, () -> {
            Provider base = Security.getProvider("SunPKCS11");
            require(base != null, "SunPKCS11 not available");
            p = base.configure(cfg);
            Security.addProvider(p);
            System.out.println("# provider " + p.getName() + ": " + p.getInfo());
        });

        check("KeyStore.load rejects a wrong PIN", () -> {
            KeyStore bad = KeyStore.getInstance("PKCS11", p);
            try {
                bad.load(null, "wrong-pin-0000".toCharArray());
                throw new AssertionError("load with a wrong PIN succeeded");
            } catch (java.io.IOException expected) {
                String all = "";
                for (Throwable t = expected; t != null; t = t.getCause()) all += " <- " + t;
                require(all.contains("CKR_PIN_INCORRECT"), "unexpected error:" + all);
            }
        });

        check("KeyStore.load with the user PIN logs in: the private key " + privateLabel + " is listed", () -> {
            KeyStore k = KeyStore.getInstance("PKCS11", p);
            k.load(null, pin);
            List<String> aliases = Collections.list(k.aliases());
            System.out.println("# keystore aliases: " + aliases);
            require(aliases.contains(privateLabel), privateLabel + " not listed: not logged in?");
            require(k.getKey(privateLabel, null) instanceof SecretKey, privateLabel + " is not a secret key");
            ks = k;
        });
        if (ks == null) { finish(); return; }

        check("AES/GCM/NoPadding encrypt/decrypt with a generated AES-256 key", () -> {
            KeyGenerator kg = KeyGenerator.getInstance("AES", p);
            kg.init(256);
            SecretKey k = kg.generateKey();
            byte[] iv = randomBytes(12), aad = "kmsbridge".getBytes(StandardCharsets.UTF_8);
            byte[] pt = randomBytes(1024);
            Cipher c = Cipher.getInstance("AES/GCM/NoPadding", p);
            c.init(Cipher.ENCRYPT_MODE, k, new GCMParameterSpec(128, iv));
            c.updateAAD(aad);
            byte[] ct = c.doFinal(pt);
            require(ct.length == pt.length + 16, "ciphertext length " + ct.length);
            require(!Arrays.equals(Arrays.copyOf(ct, pt.length), pt), "ciphertext equals plaintext");
            c = Cipher.getInstance("AES/GCM/NoPadding", p);
            c.init(Cipher.DECRYPT_MODE, k, new GCMParameterSpec(128, iv));
            c.updateAAD(aad);
            require(Arrays.equals(c.doFinal(ct), pt), "decrypt(encrypt(x)) != x");
            byte[] bad = ct.clone();
            bad[5] ^= 1;
            c = Cipher.getInstance("AES/GCM/NoPadding", p);
            c.init(Cipher.DECRYPT_MODE, k, new GCMParameterSpec(128, iv));
            c.updateAAD(aad);
            try {
                c.doFinal(bad);
                throw new AssertionError("tampered ciphertext decrypted");
            } catch (AEADBadTagException expected) {
                // SunPKCS11 maps CKR_ENCRYPTED_DATA_INVALID (the module's answer to a bad
                // tag) and CKR_GENERAL_ERROR alike to this exception: the message tells.
                String why = chain(expected);
                if (why.contains("CKR_GENERAL_ERROR"))
                    throw new Deviation("a bad GCM tag answers CKR_GENERAL_ERROR, not CKR_ENCRYPTED_DATA_INVALID");
                require(why.contains("CKR_ENCRYPTED_DATA_INVALID"), "not CKR_ENCRYPTED_DATA_INVALID:" + why);
            }
        });

        check("AES/GCM/NoPadding on the token matches SunJCE for a known key", () -> {
            byte[] raw = randomBytes(32), iv = randomBytes(12), pt = randomBytes(1024);
            byte[] aad = randomBytes(20);
            // A SecretKeySpec handed to the PKCS#11 cipher is imported as a session key.
            Cipher c = Cipher.getInstance("AES/GCM/NoPadding", p);
            c.init(Cipher.ENCRYPT_MODE, new SecretKeySpec(raw, "AES"), new GCMParameterSpec(128, iv));
            c.updateAAD(aad);
            byte[] ct = c.doFinal(pt);
            require(c.getProvider() == p, "cipher not from the PKCS#11 provider");
            Cipher s = Cipher.getInstance("AES/GCM/NoPadding", "SunJCE");
            s.init(Cipher.DECRYPT_MODE, new SecretKeySpec(raw, "AES"), new GCMParameterSpec(128, iv));
            s.updateAAD(aad);
            require(Arrays.equals(s.doFinal(ct), pt), "SunJCE could not decrypt the token's ciphertext");
        });

        KeyPair[] rsa = new KeyPair[1];
        check("KeyPairGenerator RSA 2048 on the token", () -> {
            KeyPairGenerator g = KeyPairGenerator.getInstance("RSA", p);
            g.initialize(2048);
            rsa[0] = g.generateKeyPair();
            require(rsa[0].getPrivate().getAlgorithm().equals("RSA"), "not an RSA key");
            require(((java.security.interfaces.RSAKey) rsa[0].getPublic()).getModulus().bitLength() == 2048,
                    "modulus is not 2048 bits");
        });
        check("SHA256withRSA sign/verify", () -> {
            require(rsa[0] != null, "no RSA key pair");
            signVerify("SHA256withRSA", null, rsa[0], "SunRsaSign", "RSA");
        });
        check("RSASSA-PSS (SHA-256, MGF1-SHA-256, salt 32) sign/verify", () -> {
            require(rsa[0] != null, "no RSA key pair");
            signVerify("RSASSA-PSS",
                new PSSParameterSpec("SHA-256", "MGF1", MGF1ParameterSpec.SHA256, 32, 1),
                rsa[0], "SunRsaSign", "RSA");
        });
        check("SHA256withRSASSA-PSS sign/verify", () -> {
            require(rsa[0] != null, "no RSA key pair");
            // SunRsaSign has no SHA256withRSASSA-PSS; its RSASSA-PSS with the same
            // parameters verifies the same signature.
            signVerify("SHA256withRSASSA-PSS", "RSASSA-PSS",
                new PSSParameterSpec("SHA-256", "MGF1", MGF1ParameterSpec.SHA256, 32, 1),
                rsa[0], "SunRsaSign", "RSA");
        });

        KeyPair[] ec = new KeyPair[1];
        check("KeyPairGenerator EC secp256r1 on the token", () -> {
            KeyPairGenerator g = KeyPairGenerator.getInstance("EC", p);
            g.initialize(new ECGenParameterSpec("secp256r1"));
            ec[0] = g.generateKeyPair();
            require(ec[0].getPrivate().getAlgorithm().equals("EC"), "not an EC key");
            // The public key read back from the token is a point on P-256 (SunEC
            // decodes and checks it) with the curve's parameters.
            java.security.interfaces.ECPublicKey pub = (java.security.interfaces.ECPublicKey)
                KeyFactory.getInstance("EC", "SunEC")
                    .generatePublic(new X509EncodedKeySpec(ec[0].getPublic().getEncoded()));
            AlgorithmParameters want = AlgorithmParameters.getInstance("EC", "SunEC");
            want.init(new ECGenParameterSpec("secp256r1"));
            ECParameterSpec p256 = want.getParameterSpec(ECParameterSpec.class);
            require(pub.getParams().getCurve().equals(p256.getCurve())
                    && pub.getParams().getGenerator().equals(p256.getGenerator()),
                    "public key is not on secp256r1");
        });
        check("SHA256withECDSA sign/verify", () -> {
            require(ec[0] != null, "no EC key pair");
            signVerify("SHA256withECDSA", null, ec[0], "SunEC", "EC");
        });

        check("KeyStore: store an AES key as a token object, find it, delete it", () -> {
            String alias = "java-aes-" + run;
            KeyGenerator kg = KeyGenerator.getInstance("AES", p);
            kg.init(256);
            SecretKey k = kg.generateKey();
            ks.setEntry(alias, new KeyStore.SecretKeyEntry(k), null);
            require(ks.containsAlias(alias), "alias not found after setEntry");
            Key back = ks.getKey(alias, null);
            require(back instanceof SecretKey, "getKey did not return a secret key");
            byte[] iv = randomBytes(12), pt = randomBytes(64);
            Cipher c = Cipher.getInstance("AES/GCM/NoPadding", p);
            c.init(Cipher.ENCRYPT_MODE, back, new GCMParameterSpec(128, iv));
            byte[] ct = c.doFinal(pt);
            c = Cipher.getInstance("AES/GCM/NoPadding", p);
            c.init(Cipher.DECRYPT_MODE, back, new GCMParameterSpec(128, iv));
            require(Arrays.equals(c.doFinal(ct), pt), "stored key does not round-trip");
            ks.deleteEntry(alias);
            require(!ks.containsAlias(alias), "alias still present after deleteEntry");
        });

        finish();
    }

    static void finish() {
        System.out.println("# java: " + passed + " passed, " + failed + " failed");
        System.exit(failed == 0 && passed > 0 ? 0 : 1);
    }
}
