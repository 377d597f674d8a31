// Real-client check of secrets: Java 17 SunPKCS11 reads a database password through
// the module (docs/SECRETS.md, "Through PKCS#11").
// Usage: java --add-modules jdk.crypto.cryptoki --add-exports jdk.crypto.cryptoki/sun.security.pkcs11.wrapper=ALL-UNNAMED
//            P11Secret CONFIG_FILE SECRET_NAME        (user PIN in env P11_USER_PIN)
//
// SunPKCS11's public API has no view of CKO_DATA objects: its KeyStore lists private
// keys with certificates and secret keys only (P11KeyStore), and no JCA service reads a
// data object. So the program logs in through the SunPKCS11 KeyStore (C_Login on the
// provider's token) and then reads through the provider's own PKCS#11 wrapper,
// sun.security.pkcs11.wrapper.PKCS11 — the same loaded library, logged in: a session
// opened there is logged in too (login is per application). It finds the CKO_DATA object
// whose CKA_LABEL is the secret's name, reads CKA_VALUE (the ACSCurrent version) and
// CKA_KMSBRIDGE_SECRET_VERSION_ID, parses the database credential JSON and prints the
// password's SHA-256, never the password.
// Prints "PASS name" / "FAIL name: why", and "SHA256 hex", "VERSION id"; exits 1 on a failure.

import java.nio.charset.StandardCharsets;
import java.security.*;
import java.util.*;
import java.util.regex.*;
import sun.security.pkcs11.wrapper.CK_ATTRIBUTE;
import sun.security.pkcs11.wrapper.PKCS11;

public class P11Secret {
    static final long CKA_CLASS = 0x0, CKA_LABEL = 0x3, CKA_APPLICATION = 0x10, CKA_VALUE = 0x11;
    static final long CKO_DATA = 0x0, CKF_SERIAL_SESSION = 0x4;
    static final long CKA_KMSBRIDGE_SECRET_VERSION_ID = 0xCB420030L;
    static int failed = 0;

    interface Check { void run() throws Exception; }

    static void check(String name, Check c) {
        try {
            c.run();
            System.out.println("PASS " + name);
        } catch (Throwable t) {
            String all = "";
            for (Throwable e = t; e != null; e = e.getCause()) all += " <- " + e;
            System.out.println("FAIL " + name + ":" + all.replace('\n', ' '));
            failed++;
        }
    }

    static void require(boolean ok, String what) {
        if (!ok) throw new AssertionError(what);
    }

    /** One string field of a flat JSON object (the database credential), unescaped. */
    static String jsonField(String json, String field) {
        Matcher m = Pattern.compile("\"" + Pattern.quote(field) + "\"\\s*:\\s*\"((?:[^\"\\\\]|\\\\.)*)\"")
                .matcher(json);
        require(m.find(), "no string field " + field + " in the credential");
        StringBuilder out = new StringBuilder();
        String s = m.group(1);
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c != '\\') { out.append(c); continue; }
            char e = s.charAt(++i);
            switch (e) {
                case 'n': out.append('\n'); break;
                case 't': out.append('\t'); break;
                case 'r': out.append('\r'); break;
                case 'b': out.append('\b'); break;
                case 'f': out.append('\f'); break;
                case 'u': out.append((char) Integer.parseInt(s.substring(i + 1, i + 5), 16)); i += 4; break;
                default: out.append(e);
            }
        }
        return out.toString();
    }

    /** An attribute's value as bytes: the wrapper gives text attributes as char[]. */
    static byte[] bytes(CK_ATTRIBUTE a) {
        if (a.pValue instanceof byte[]) return (byte[]) a.pValue;
        if (a.pValue instanceof char[]) return new String((char[]) a.pValue).getBytes(StandardCharsets.UTF_8);
        throw new IllegalStateException("attribute 0x" + Long.toHexString(a.type) + ": " + a.pValue);
    }

    static String hex(byte[] b) {
        StringBuilder sb = new StringBuilder();
        for (byte x : b) sb.append(String.format("%02x", x));
        return sb.toString();
    }

    static String configValue(String config, String key) throws Exception {
        for (String line : java.nio.file.Files.readAllLines(java.nio.file.Path.of(config))) {
            String[] kv = line.split("=", 2);
            if (kv.length == 2 && kv[0].trim().equals(key)) return kv[1].trim();
        }
        throw new IllegalArgumentException(key + " not in " + config);
    }

    public static void main(String[] a) throws Exception {
        if (a.length != 2) {
            System.err.println("usage: java P11Secret CONFIG_FILE SECRET_NAME");
            System.exit(2);
        }
        String name = a[1];
        byte[] label = name.getBytes(StandardCharsets.UTF_8);
        Provider p = Security.getProvider("SunPKCS11").configure(a[0]);
        Security.addProvider(p);
        KeyStore ks = KeyStore.getInstance("PKCS11", p);
        // The login is checked by what follows: the secret is a private object, found
        // below only in a logged-in session.
        check("SunPKCS11 KeyStore.load with the user PIN; the KeyStore has no view of the secret (a CKO_DATA object)", () -> {
            ks.load(null, System.getenv("P11_USER_PIN").toCharArray());
            List<String> aliases = Collections.list(ks.aliases());
            System.out.println("# KeyStore aliases: " + aliases);
            require(!aliases.contains(name), name + " is a KeyStore alias");
        });

        String library = configValue(a[0], "library");
        long slot = Long.parseLong(configValue(a[0], "slot"));
        byte[][] value = new byte[1][];
        String[] version = new String[1];
        check("find CKO_DATA with CKA_LABEL=" + name + " and read CKA_VALUE (PKCS11 wrapper)", () -> {
            // The instance SunPKCS11 loaded and logged in (the wrapper keeps one per path).
            PKCS11 p11 = PKCS11.getInstance(library, "C_GetFunctionList", null, false);
            long s = p11.C_OpenSession(slot, CKF_SERIAL_SESSION, null, null);
            try {
                p11.C_FindObjectsInit(s, new CK_ATTRIBUTE[] {
                    new CK_ATTRIBUTE(CKA_CLASS, CKO_DATA), new CK_ATTRIBUTE(CKA_LABEL, label)});
                long[] found;
                try {
                    found = p11.C_FindObjects(s, 10);
                } finally {
                    p11.C_FindObjectsFinal(s);
                }
                require(found.length == 1, found.length + " objects labelled " + name);
                CK_ATTRIBUTE[] t = {
                    new CK_ATTRIBUTE(CKA_APPLICATION), new CK_ATTRIBUTE(CKA_VALUE),
                    new CK_ATTRIBUTE(CKA_KMSBRIDGE_SECRET_VERSION_ID)};
                p11.C_GetAttributeValue(s, found[0], t);
                String app = new String(bytes(t[0]), StandardCharsets.UTF_8);
                require(app.equals("kmsbridge.secret"), "CKA_APPLICATION " + app);
                value[0] = bytes(t[1]);
                version[0] = new String(bytes(t[2]), StandardCharsets.UTF_8);
            } finally {
                p11.C_CloseSession(s);
            }
        });
        check("CKA_VALUE is a database credential; its password's SHA-256", () -> {
            require(value[0] != null, "no value read");
            String json = new String(value[0], StandardCharsets.UTF_8);
            require(jsonField(json, "engine").equals("postgres"), "engine is not postgres");
            byte[] pw = jsonField(json, "password").getBytes(StandardCharsets.UTF_8);
            System.out.println("SHA256 " + hex(MessageDigest.getInstance("SHA-256").digest(pw)));
            Arrays.fill(pw, (byte) 0);
            Arrays.fill(value[0], (byte) 0);
            System.out.println("VERSION " + version[0]);
        });
        System.exit(failed == 0 ? 0 : 1);
    }
}
