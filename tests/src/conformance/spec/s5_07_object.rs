//! PKCS#11 3.0 section 5.7, object management: C_CreateObject, C_CopyObject,
//! C_DestroyObject, C_GetObjectSize, C_GetAttributeValue, C_SetAttributeValue,
//! C_FindObjectsInit, C_FindObjects, C_FindObjectsFinal.

use super::fixture::*;
use super::{Rows, Section};
use crate::deviation::{ATTR_LEN_CODE, KEY_VALUE_LEN};
use crate::p11;
use cryptoki_sys::*;
use std::ptr::null_mut;

/// This section.
pub const SECTION: Section = Section { id: "5.7", title: "Object management functions", rows };

type Tpl = Vec<(CK_ATTRIBUTE_TYPE, Vec<u8>)>;

/// A session AES key template, with `extra` appended (later entries name new types).
fn aes(extra: Tpl) -> Tpl {
    let mut t = vec![
        (CKA_CLASS, ulb(CKO_SECRET_KEY)),
        (CKA_KEY_TYPE, ulb(CKK_AES)),
        (CKA_TOKEN, bb(false)),
        (CKA_VALUE, vec![9; 16]),
    ];
    t.extend(extra);
    t
}

/// A session data object template; `extra` entries replace those of the same type.
fn data_obj(extra: Tpl) -> Tpl {
    let mut t =
        vec![(CKA_CLASS, ulb(CKO_DATA)), (CKA_TOKEN, bb(false)), (CKA_VALUE, b"x".to_vec())];
    t.retain(|(ty, _)| !extra.iter().any(|(e, _)| e == ty));
    t.extend(extra);
    t
}

fn create(f: &Fx, hs: CK_SESSION_HANDLE, mut t: Tpl) -> CK_RV {
    let mut a = tpl(&mut t);
    let mut h: CK_OBJECT_HANDLE = 0;
    p11!(f.t, C_CreateObject, hs, a.as_mut_ptr(), a.len() as CK_ULONG, &mut h)
}

fn created(f: &Fx, hs: CK_SESSION_HANDLE, mut t: Tpl) -> CK_OBJECT_HANDLE {
    let mut a = tpl(&mut t);
    let mut h: CK_OBJECT_HANDLE = 0;
    let _ = p11!(f.t, C_CreateObject, hs, a.as_mut_ptr(), a.len() as CK_ULONG, &mut h);
    h
}

fn set(f: &Fx, hs: CK_SESSION_HANDLE, o: CK_OBJECT_HANDLE, mut t: Tpl) -> CK_RV {
    let mut a = tpl(&mut t);
    p11!(f.t, C_SetAttributeValue, hs, o, a.as_mut_ptr(), a.len() as CK_ULONG)
}

fn get(
    f: &Fx,
    hs: CK_SESSION_HANDLE,
    o: CK_OBJECT_HANDLE,
    ty: CK_ATTRIBUTE_TYPE,
    cap: Option<usize>,
) -> (CK_RV, CK_ULONG) {
    let mut buf = vec![0u8; cap.unwrap_or(0)];
    let mut a = CK_ATTRIBUTE {
        type_: ty,
        pValue: if cap.is_some() { buf.as_mut_ptr() as *mut _ } else { null_mut() },
        ulValueLen: buf.len() as CK_ULONG,
    };
    (p11!(f.t, C_GetAttributeValue, hs, o, &mut a, 1), a.ulValueLen)
}

fn rows() -> Rows {
    let mut r = Rows::default();
    let co = "C_CreateObject";
    r.add(co, "session handle never opened", &[CKR_SESSION_HANDLE_INVALID], |f, _| {
        create(f, BOGUS_SESSION, aes(vec![]))
    });
    r.add(co, "NULL template with a count", &[CKR_ARGUMENTS_BAD], |f, hs| {
        let mut h = 0;
        p11!(f.t, C_CreateObject, hs, null_mut(), 3, &mut h)
    });
    r.add(co, "NULL handle pointer", &[CKR_ARGUMENTS_BAD], |f, hs| {
        let mut t = aes(vec![]);
        let mut a = tpl(&mut t);
        p11!(f.t, C_CreateObject, hs, a.as_mut_ptr(), a.len() as CK_ULONG, null_mut())
    });
    r.add(co, "no CKA_CLASS", &[CKR_TEMPLATE_INCOMPLETE], |f, hs| {
        create(f, hs, vec![(CKA_TOKEN, bb(false)), (CKA_VALUE, vec![1; 16])])
    });
    r.add(co, "AES key without CKA_VALUE", &[CKR_TEMPLATE_INCOMPLETE], |f, hs| {
        create(
            f,
            hs,
            vec![
                (CKA_CLASS, ulb(CKO_SECRET_KEY)),
                (CKA_KEY_TYPE, ulb(CKK_AES)),
                (CKA_TOKEN, bb(false)),
            ],
        )
    });
    r.add(co, "secret key without CKA_KEY_TYPE", &[CKR_TEMPLATE_INCOMPLETE], |f, hs| {
        create(
            f,
            hs,
            vec![
                (CKA_CLASS, ulb(CKO_SECRET_KEY)),
                (CKA_TOKEN, bb(false)),
                (CKA_VALUE, vec![1; 16]),
            ],
        )
    });
    r.add(co, "CKA_CLASS of 1 byte", &[CKR_ATTRIBUTE_VALUE_INVALID], |f, hs| {
        create(
            f,
            hs,
            vec![
                (CKA_CLASS, vec![4]),
                (CKA_KEY_TYPE, ulb(CKK_AES)),
                (CKA_TOKEN, bb(false)),
                (CKA_VALUE, vec![1; 16]),
            ],
        )
    })
    .dev(&ATTR_LEN_CODE, CKR_TEMPLATE_INCOMPLETE);
    r.add(co, "CKA_TOKEN of 4 bytes", &[CKR_ATTRIBUTE_VALUE_INVALID], |f, hs| {
        create(
            f,
            hs,
            data_obj(vec![])
                .into_iter()
                .map(|(t, v)| if t == CKA_TOKEN { (t, vec![0; 4]) } else { (t, v) })
                .collect(),
        )
    });
    r.add(
        co,
        "class number no class has",
        &[CKR_ATTRIBUTE_VALUE_INVALID, CKR_TEMPLATE_INCONSISTENT],
        |f, hs| create(f, hs, vec![(CKA_CLASS, ulb(0x7ead)), (CKA_TOKEN, bb(false))]),
    );
    r.add(
        co,
        "key type number no key type has",
        &[CKR_ATTRIBUTE_VALUE_INVALID, CKR_TEMPLATE_INCONSISTENT],
        |f, hs| {
            create(
                f,
                hs,
                aes(vec![])
                    .into_iter()
                    .map(|(t, v)| if t == CKA_KEY_TYPE { (t, ulb(0x7ead)) } else { (t, v) })
                    .collect(),
            )
        },
    );
    r.add(co, "AES CKA_VALUE of 15 bytes", &[CKR_ATTRIBUTE_VALUE_INVALID], |f, hs| {
        create(
            f,
            hs,
            aes(vec![])
                .into_iter()
                .map(|(t, v)| if t == CKA_VALUE { (t, vec![1; 15]) } else { (t, v) })
                .collect(),
        )
    })
    .dev(&KEY_VALUE_LEN, CKR_OK);
    r.add(co, "attribute type no object has", &[CKR_ATTRIBUTE_TYPE_INVALID], |f, hs| {
        create(f, hs, aes(vec![(0x7ead_0000, vec![1])]))
    });
    for (what, ty, v) in [
        ("CKA_LOCAL given", CKA_LOCAL, bb(true)),
        ("CKA_ALWAYS_SENSITIVE given", CKA_ALWAYS_SENSITIVE, bb(true)),
        ("CKA_NEVER_EXTRACTABLE given", CKA_NEVER_EXTRACTABLE, bb(true)),
        ("CKA_KEY_GEN_MECHANISM given", CKA_KEY_GEN_MECHANISM, ulb(CKM_AES_KEY_GEN)),
    ] {
        r.add(co, what, &[CKR_ATTRIBUTE_READ_ONLY, CKR_TEMPLATE_INCONSISTENT], move |f, hs| {
            create(f, hs, aes(vec![(ty, v.clone())]))
        });
    }
    r.add(co, "token object on a read-only session", &[CKR_SESSION_READ_ONLY], |f, _| {
        f.with_ro(|ro| create(f, ro, data_obj(vec![(CKA_TOKEN, bb(true))])))
    });
    r.add(co, "public session object on a read-only session", &[CKR_OK], |f, _| {
        f.with_ro(|ro| create(f, ro, data_obj(vec![(CKA_PRIVATE, bb(false))])))
    });
    r.add(co, "logged out: private data object", &[CKR_USER_NOT_LOGGED_IN], |f, hs| {
        f.logged_out(hs, || create(f, hs, data_obj(vec![(CKA_PRIVATE, bb(true))])))
    });
    r.add(co, "logged out: public data object", &[CKR_OK], |f, hs| {
        f.logged_out(hs, || create(f, hs, data_obj(vec![(CKA_PRIVATE, bb(false))])))
    });
    r.add(co, "AES key by value", &[CKR_OK], |f, hs| create(f, hs, aes(vec![])));
    let cp = "C_CopyObject";
    r.add(cp, "session handle never opened", &[CKR_SESSION_HANDLE_INVALID], |f, _| {
        let mut h = 0;
        p11!(f.t, C_CopyObject, BOGUS_SESSION, f.data, [].as_mut_ptr(), 0, &mut h)
    });
    r.add(cp, "object handle never given out", &[CKR_OBJECT_HANDLE_INVALID], |f, hs| {
        let mut h = 0;
        p11!(f.t, C_CopyObject, hs, BOGUS_OBJECT, [].as_mut_ptr(), 0, &mut h)
    });
    r.add(cp, "NULL handle pointer", &[CKR_ARGUMENTS_BAD], |f, hs| {
        p11!(f.t, C_CopyObject, hs, f.data, [].as_mut_ptr(), 0, null_mut())
    });
    r.add(cp, "NULL template with a count", &[CKR_ARGUMENTS_BAD], |f, hs| {
        let mut h = 0;
        p11!(f.t, C_CopyObject, hs, f.data, null_mut(), 2, &mut h)
    });
    r.add(
        cp,
        "sensitive key copied as not sensitive",
        &[CKR_ATTRIBUTE_READ_ONLY, CKR_TEMPLATE_INCONSISTENT],
        |f, hs| {
            let mut t = vec![(CKA_SENSITIVE, bb(false))];
            let mut a = tpl(&mut t);
            let mut h = 0;
            p11!(f.t, C_CopyObject, hs, f.aes_unext, a.as_mut_ptr(), 1, &mut h)
        },
    );
    r.add(cp, "object with CKA_COPYABLE false", &[CKR_ACTION_PROHIBITED], |f, hs| {
        let o = created(f, hs, data_obj(vec![(CKA_COPYABLE, bb(false))]));
        let mut h = 0;
        p11!(f.t, C_CopyObject, hs, o, [].as_mut_ptr(), 0, &mut h)
    });
    r.add(cp, "a data object", &[CKR_OK], |f, hs| {
        let mut h = 0;
        p11!(f.t, C_CopyObject, hs, f.data, [].as_mut_ptr(), 0, &mut h)
    });
    let de = "C_DestroyObject";
    r.add(de, "session handle never opened", &[CKR_SESSION_HANDLE_INVALID], |f, _| {
        p11!(f.t, C_DestroyObject, BOGUS_SESSION, f.data)
    });
    r.add(de, "object handle never given out", &[CKR_OBJECT_HANDLE_INVALID], |f, hs| {
        p11!(f.t, C_DestroyObject, hs, BOGUS_OBJECT)
    });
    r.add(de, "twice", &[CKR_OBJECT_HANDLE_INVALID], |f, hs| {
        let o = created(f, hs, data_obj(vec![]));
        if p11!(f.t, C_DestroyObject, hs, o) != CKR_OK {
            return super::WRONG;
        }
        p11!(f.t, C_DestroyObject, hs, o)
    });
    r.add(de, "object with CKA_DESTROYABLE false", &[CKR_ACTION_PROHIBITED], |f, hs| {
        let o = created(f, hs, data_obj(vec![(CKA_DESTROYABLE, bb(false))]));
        p11!(f.t, C_DestroyObject, hs, o)
    });
    let gs = "C_GetObjectSize";
    r.add(gs, "session handle never opened", &[CKR_SESSION_HANDLE_INVALID], |f, _| {
        let mut n = 0;
        p11!(f.t, C_GetObjectSize, BOGUS_SESSION, f.data, &mut n)
    });
    r.add(gs, "object handle never given out", &[CKR_OBJECT_HANDLE_INVALID], |f, hs| {
        let mut n = 0;
        p11!(f.t, C_GetObjectSize, hs, BOGUS_OBJECT, &mut n)
    });
    r.add(gs, "NULL pointer", &[CKR_ARGUMENTS_BAD], |f, hs| {
        p11!(f.t, C_GetObjectSize, hs, f.data, null_mut())
    });
    let ga = "C_GetAttributeValue";
    r.add(ga, "session handle never opened", &[CKR_SESSION_HANDLE_INVALID], |f, _| {
        get(f, BOGUS_SESSION, f.data, CKA_VALUE, Some(8)).0
    });
    r.add(ga, "object handle never given out", &[CKR_OBJECT_HANDLE_INVALID], |f, hs| {
        get(f, hs, BOGUS_OBJECT, CKA_VALUE, Some(8)).0
    });
    r.add(ga, "NULL template with a count", &[CKR_ARGUMENTS_BAD], |f, hs| {
        p11!(f.t, C_GetAttributeValue, hs, f.data, null_mut(), 1)
    });
    r.add(ga, "NULL value: the length", &[CKR_OK], |f, hs| {
        let (code, n) = get(f, hs, f.aes, CKA_VALUE, None);
        if code == CKR_OK && n != 16 {
            return super::WRONG;
        }
        code
    });
    r.add(
        ga,
        "short buffer: CKR_BUFFER_TOO_SMALL, length unavailable",
        &[CKR_BUFFER_TOO_SMALL],
        |f, hs| {
            let (code, n) = get(f, hs, f.aes, CKA_VALUE, Some(8));
            if code != CKR_OK && n != CK_UNAVAILABLE_INFORMATION {
                eprintln!("     ulValueLen {n:#x}, want CK_UNAVAILABLE_INFORMATION");
                return super::WRONG;
            }
            code
        },
    );
    r.add(
        ga,
        "sensitive value: CKR_ATTRIBUTE_SENSITIVE, length unavailable",
        &[CKR_ATTRIBUTE_SENSITIVE],
        |f, hs| {
            let (code, n) = get(f, hs, f.aes_unext, CKA_VALUE, Some(64));
            if code != CKR_OK && n != CK_UNAVAILABLE_INFORMATION {
                eprintln!("     ulValueLen {n:#x}, want CK_UNAVAILABLE_INFORMATION");
                return super::WRONG;
            }
            code
        },
    );
    r.add(ga, "attribute the object does not have", &[CKR_ATTRIBUTE_TYPE_INVALID], |f, hs| {
        let (code, n) = get(f, hs, f.data, CKA_MODULUS, Some(64));
        if code != CKR_OK && n != CK_UNAVAILABLE_INFORMATION {
            eprintln!("     ulValueLen {n:#x}, want CK_UNAVAILABLE_INFORMATION");
            return super::WRONG;
        }
        code
    });
    r.add(ga, "private exponent of a sensitive RSA key", &[CKR_ATTRIBUTE_SENSITIVE], |f, hs| {
        get(f, hs, f.rsa_priv, CKA_PRIVATE_EXPONENT, Some(512)).0
    });
    r.add(ga, "modulus of the RSA public key", &[CKR_OK], |f, hs| {
        let (code, n) = get(f, hs, f.rsa_pub, CKA_MODULUS, Some(512));
        if code == CKR_OK && n != 256 {
            return super::WRONG;
        }
        code
    });
    let sa = "C_SetAttributeValue";
    r.add(sa, "session handle never opened", &[CKR_SESSION_HANDLE_INVALID], |f, _| {
        set(f, BOGUS_SESSION, f.data, vec![(CKA_LABEL, b"l".to_vec())])
    });
    r.add(sa, "object handle never given out", &[CKR_OBJECT_HANDLE_INVALID], |f, hs| {
        set(f, hs, BOGUS_OBJECT, vec![(CKA_LABEL, b"l".to_vec())])
    });
    r.add(sa, "NULL template with a count", &[CKR_ARGUMENTS_BAD], |f, hs| {
        p11!(f.t, C_SetAttributeValue, hs, f.data, null_mut(), 1)
    });
    for (what, ty, v) in [
        ("CKA_CLASS", CKA_CLASS, ulb(CKO_DATA)),
        ("CKA_KEY_TYPE", CKA_KEY_TYPE, ulb(CKK_GENERIC_SECRET)),
        ("CKA_LOCAL", CKA_LOCAL, bb(true)),
        ("CKA_ALWAYS_SENSITIVE", CKA_ALWAYS_SENSITIVE, bb(true)),
        ("CKA_NEVER_EXTRACTABLE", CKA_NEVER_EXTRACTABLE, bb(true)),
    ] {
        r.add(sa, what, &[CKR_ATTRIBUTE_READ_ONLY], move |f, hs| {
            let k = created(f, hs, aes(vec![]));
            set(f, hs, k, vec![(ty, v.clone())])
        });
    }
    r.add(sa, "CKA_SENSITIVE true to false", &[CKR_ATTRIBUTE_READ_ONLY], |f, hs| {
        set(f, hs, f.aes_unext, vec![(CKA_SENSITIVE, bb(false))])
    });
    r.add(sa, "CKA_EXTRACTABLE false to true", &[CKR_ATTRIBUTE_READ_ONLY], |f, hs| {
        set(f, hs, f.aes_unext, vec![(CKA_EXTRACTABLE, bb(true))])
    });
    r.add(
        sa,
        "CKA_LABEL of an object with CKA_MODIFIABLE false",
        &[CKR_ACTION_PROHIBITED],
        |f, hs| {
            let o = created(f, hs, data_obj(vec![(CKA_MODIFIABLE, bb(false))]));
            set(f, hs, o, vec![(CKA_LABEL, b"l".to_vec())])
        },
    );
    r.add(sa, "CKA_ENCRYPT of 4 bytes", &[CKR_ATTRIBUTE_VALUE_INVALID], |f, hs| {
        let k = created(f, hs, aes(vec![]));
        set(f, hs, k, vec![(CKA_ENCRYPT, vec![1, 0, 0, 0])])
    });
    r.add(sa, "token object on a read-only session", &[CKR_SESSION_READ_ONLY], |f, hs| {
        let o = created(f, hs, data_obj(vec![(CKA_TOKEN, bb(true)), (CKA_PRIVATE, bb(false))]));
        let code = f.with_ro(|ro| set(f, ro, o, vec![(CKA_LABEL, b"l".to_vec())]));
        let _ = p11!(f.t, C_DestroyObject, hs, o);
        code
    });
    r.add(sa, "CKA_LABEL of a data object", &[CKR_OK], |f, hs| {
        set(f, hs, f.data, vec![(CKA_LABEL, b"l".to_vec())])
    });
    let fi = "C_FindObjectsInit";
    r.add(fi, "session handle never opened", &[CKR_SESSION_HANDLE_INVALID], |f, _| {
        p11!(f.t, C_FindObjectsInit, BOGUS_SESSION, null_mut(), 0)
    });
    r.add(fi, "NULL template with a count", &[CKR_ARGUMENTS_BAD], |f, hs| {
        p11!(f.t, C_FindObjectsInit, hs, null_mut(), 2)
    });
    r.add(fi, "second Init while active", &[CKR_OPERATION_ACTIVE], |f, hs| {
        if p11!(f.t, C_FindObjectsInit, hs, null_mut(), 0) != CKR_OK {
            return super::WRONG;
        }
        p11!(f.t, C_FindObjectsInit, hs, null_mut(), 0)
    });
    r.add(
        fi,
        "attribute type no object has: finds nothing",
        &[CKR_OK, CKR_ATTRIBUTE_TYPE_INVALID],
        |f, hs| {
            let mut t = vec![(0x7ead_0000, vec![1])];
            let mut a = tpl(&mut t);
            let code = p11!(f.t, C_FindObjectsInit, hs, a.as_mut_ptr(), 1);
            if code == CKR_OK {
                let mut o = [0; 4];
                let mut n: CK_ULONG = 0;
                if p11!(f.t, C_FindObjects, hs, o.as_mut_ptr(), 4, &mut n) != CKR_OK || n != 0 {
                    return super::WRONG;
                }
            }
            code
        },
    );
    let fo = "C_FindObjects";
    r.add(fo, "without Init", &[CKR_OPERATION_NOT_INITIALIZED], |f, hs| {
        let mut o = [0; 4];
        let mut n: CK_ULONG = 0;
        p11!(f.t, C_FindObjects, hs, o.as_mut_ptr(), 4, &mut n)
    });
    r.add(fo, "session handle never opened", &[CKR_SESSION_HANDLE_INVALID], |f, _| {
        let mut o = [0; 4];
        let mut n: CK_ULONG = 0;
        p11!(f.t, C_FindObjects, BOGUS_SESSION, o.as_mut_ptr(), 4, &mut n)
    });
    r.add(fo, "NULL handle array", &[CKR_ARGUMENTS_BAD], |f, hs| {
        if p11!(f.t, C_FindObjectsInit, hs, null_mut(), 0) != CKR_OK {
            return super::WRONG;
        }
        let mut n: CK_ULONG = 0;
        p11!(f.t, C_FindObjects, hs, null_mut(), 4, &mut n)
    });
    r.add(fo, "NULL count pointer", &[CKR_ARGUMENTS_BAD], |f, hs| {
        if p11!(f.t, C_FindObjectsInit, hs, null_mut(), 0) != CKR_OK {
            return super::WRONG;
        }
        let mut o = [0; 4];
        p11!(f.t, C_FindObjects, hs, o.as_mut_ptr(), 4, null_mut())
    });
    r.add(fo, "finds the fixture's data object by class", &[CKR_OK], |f, hs| {
        let mut t = vec![(CKA_CLASS, ulb(CKO_DATA))];
        let mut a = tpl(&mut t);
        if p11!(f.t, C_FindObjectsInit, hs, a.as_mut_ptr(), 1) != CKR_OK {
            return super::WRONG;
        }
        let mut o = [0; 64];
        let mut n: CK_ULONG = 0;
        let code = p11!(f.t, C_FindObjects, hs, o.as_mut_ptr(), 64, &mut n);
        if !o[..n as usize].contains(&f.data) {
            return super::WRONG;
        }
        code
    });
    let ff = "C_FindObjectsFinal";
    r.add(ff, "without Init", &[CKR_OPERATION_NOT_INITIALIZED], |f, hs| {
        p11!(f.t, C_FindObjectsFinal, hs)
    });
    r.add(ff, "session handle never opened", &[CKR_SESSION_HANDLE_INVALID], |f, _| {
        p11!(f.t, C_FindObjectsFinal, BOGUS_SESSION)
    });
    r.add(ff, "twice", &[CKR_OPERATION_NOT_INITIALIZED], |f, hs| {
        if p11!(f.t, C_FindObjectsInit, hs, null_mut(), 0) != CKR_OK
            || p11!(f.t, C_FindObjectsFinal, hs) != CKR_OK
        {
            return super::WRONG;
        }
        p11!(f.t, C_FindObjectsFinal, hs)
    });
    r
}
