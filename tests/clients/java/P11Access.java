// Real-client check of access points: Java SunPKCS11 logged in as an application.
// Usage: java P11Access CONFIG_FILE MODE OK_LABEL OK_KEY_HEX NO_LABEL
//   MODE pin:  the client key (env P11_CLIENT_KEY) is the KeyStore password;
//              a wrong one (env P11_WRONG_KEY) must answer CKR_PIN_INCORRECT first.
//   MODE file: KMSBRIDGE_CLIENT_KEY_FILE names the key; the password is empty.
// The access point's policy allows encrypt on OK_LABEL only: the key is listed and
// encrypts exactly as SunJCE does with its known value; decrypt is refused with
// CKR_KEY_FUNCTION_NOT_PERMITTED; NO_LABEL (outside the policy) is not listed.
// Prints "PASS name" / "FAIL name: why" per check; exits 1 if any failed.

import java.security.*;
import java.util.*;
import javax.crypto.*;
import javax.crypto.spec.*;

public class P11Access {
    static int failed = 0;

    interface Check { void run() throws Exception; }

    static void check(String name, Check c) {
        try {
            c.run();
            System.out.println("PASS " + name);
        } catch (Throwable t) {
            System.out.println("FAIL " + name + ": " + chain(t).replace('\n', ' '));
            failed++;
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

    static byte[] hex(String s) {
        byte[] b = new byte[s.length() / 2];
        for (int i = 0; i < b.length; i++) b[i] = (byte) Integer.parseInt(s.substring(2 * i, 2 * i + 2), 16);
        return b;
    }

    public static void main(String[] a) throws Exception {
        if (a.length != 5) {
            System.err.println("usage: java P11Access CONFIG_FILE pin|file OK_LABEL OK_KEY_HEX NO_LABEL");
            System.exit(2);
        }
        String mode = a[1], ok = a[2], no = a[4];
        byte[] okValue = hex(a[3]);
        Provider p = Security.getProvider("SunPKCS11").configure(a[0]);
        Security.addProvider(p);
        String tag = "(" + mode + ") ";

        if (mode.equals("pin")) {
            check(tag + "a wrong client key is refused with CKR_PIN_INCORRECT", () -> {
                KeyStore bad = KeyStore.getInstance("PKCS11", p);
                try {
                    bad.load(null, System.getenv("P11_WRONG_KEY").toCharArray());
                    throw new AssertionError("a wrong client key logged in");
                } catch (java.io.IOException expected) {
                    require(chain(expected).contains("CKR_PIN_INCORRECT"), "unexpected:" + chain(expected));
                }
            });
        }
        KeyStore ks = KeyStore.getInstance("PKCS11", p);
        char[] password = mode.equals("pin") ? System.getenv("P11_CLIENT_KEY").toCharArray() : new char[0];
        // The login is checked by what it shows: the allowed key is private, so it is
        // listed only if KeyStore.load logged in.
        check(tag + "KeyStore.load logs in as the access point: the allowed key is listed, the one outside the policy is not", () -> {
            ks.load(null, password);
            List<String> aliases = Collections.list(ks.aliases());
            System.out.println("# aliases: " + aliases);
            require(aliases.contains(ok), ok + " not listed");
            require(!aliases.contains(no), no + " listed although outside the policy");
            require(ks.getKey(no, null) == null, no + " reachable by name");
        });

        check(tag + "AES/GCM encrypt with the allowed key equals SunJCE with its value", () -> {
            Key k = ks.getKey(ok, null);
            require(k != null, ok + " not found");
            byte[] iv = new byte[12];
            new SecureRandom().nextBytes(iv);
            byte[] msg = "access point through SunPKCS11".getBytes("UTF-8");
            Cipher c = Cipher.getInstance("AES/GCM/NoPadding", p);
            c.init(Cipher.ENCRYPT_MODE, k, new GCMParameterSpec(128, iv));
            byte[] ct = c.doFinal(msg);
            Cipher soft = Cipher.getInstance("AES/GCM/NoPadding", "SunJCE");
            soft.init(Cipher.ENCRYPT_MODE, new SecretKeySpec(okValue, "AES"), new GCMParameterSpec(128, iv));
            require(Arrays.equals(ct, soft.doFinal(msg)), "the token's ciphertext differs from SunJCE's");
        });

        check(tag + "decrypt with the allowed key is refused: CKR_KEY_FUNCTION_NOT_PERMITTED", () -> {
            Key k = ks.getKey(ok, null);
            Cipher c = Cipher.getInstance("AES/GCM/NoPadding", p);
            try {
                c.init(Cipher.DECRYPT_MODE, k, new GCMParameterSpec(128, new byte[12]));
                c.doFinal(new byte[32]);
                throw new AssertionError("decrypt was allowed");
            } catch (AssertionError e) {
                throw e;
            } catch (Exception expected) {
                require(chain(expected).contains("CKR_KEY_FUNCTION_NOT_PERMITTED"), "unexpected:" + chain(expected));
            }
        });
        System.exit(failed == 0 ? 0 : 1);
    }
}
