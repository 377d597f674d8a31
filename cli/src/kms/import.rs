//! `kmsbridge import ...`: GetParametersForImport as C_GenerateKey with
//! CKM_KMSBRIDGE_IMPORT_PARAMETERS, ImportKeyMaterial as C_UnwrapKey with the import
//! public key as the unwrapping key (docs/KEYS.md, Import).

use super::args::{usage, Args};
use super::byok_wrap::{public_key, public_pem};
use super::record::Record;
use super::refusal::{explain, refused, Op};
use super::rsa_aes_unwrap::{self, OaepHash};
use super::session::{current, open, resolve};
use super::time::{iso, now, relative};
use super::vendor::*;
use crate::module::Error;
use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsOaepParams, PkcsOaepSource};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;
use std::path::Path;

pub fn run(args: &[String]) -> Result<(), Error> {
    match args.split_first() {
        Some((c, rest)) if c == "get-parameters" => {
            get_parameters(&Args::parse(rest, &["--bits", "--out"])?)
        }
        Some((c, rest)) if c == "key-material" => key_material(&Args::parse(
            rest,
            &["--blob", "--token", "--algorithm", "--expire-unix"],
        )?),
        Some((c, _)) if ["-h", "--help", "help"].contains(&c.as_str()) => {
            println!("{}", crate::USAGE);
            Ok(())
        }
        Some((c, _)) => Err(usage(format!("unknown import subcommand {c:?}"))),
        None => Err(usage(
            "import needs a subcommand (get-parameters or key-material)",
        )),
    }
}

/// The import public key's attributes: modulus, exponent, token, expiry.
pub struct Parameters {
    pub modulus: Vec<u8>,
    pub exponent: Vec<u8>,
    pub token: Vec<u8>,
    pub expiry: u64,
}

pub fn read_parameters(s: &Session, h: ObjectHandle) -> Result<Parameters, Error> {
    let mut p = Parameters {
        modulus: Vec::new(),
        exponent: Vec::new(),
        token: Vec::new(),
        expiry: 0,
    };
    for a in s.get_attributes(
        h,
        &[
            AttributeType::Modulus,
            AttributeType::PublicExponent,
            attr_type(CKA_KMSBRIDGE_IMPORT_TOKEN),
            attr_type(CKA_KMSBRIDGE_IMPORT_TOKEN_EXPIRY),
        ],
    )? {
        match a {
            Attribute::Modulus(m) => p.modulus = m,
            Attribute::PublicExponent(e) => p.exponent = e,
            Attribute::VendorDefined((AttributeType::VendorDefined(t), v)) => match t {
                CKA_KMSBRIDGE_IMPORT_TOKEN => p.token = v,
                CKA_KMSBRIDGE_IMPORT_TOKEN_EXPIRY => p.expiry = as_ulong(&v).unwrap_or(0),
                _ => {}
            },
            _ => {}
        }
    }
    if p.modulus.is_empty() || p.exponent.is_empty() || p.token.is_empty() {
        return Err(refused(
            "the instance returned an import key without modulus, exponent or token",
        ));
    }
    Ok(p)
}

/// `C_GenerateKey(CKM_KMSBRIDGE_IMPORT_PARAMETERS)` for the key with `id`: the import
/// public key's handle.
pub fn request(
    s: &Session,
    key: &str,
    id: &[u8],
    bits: Option<u64>,
) -> Result<ObjectHandle, Error> {
    let mut template = vec![Attribute::Id(id.to_vec())];
    if let Some(b) = bits {
        template.push(Attribute::ModulusBits(b.into()));
    }
    s.generate_key(&mechanism(CKM_KMSBRIDGE_IMPORT_PARAMETERS)?, &template)
        .map_err(|e| explain(e, Op::Parameters(key)))
}

fn get_parameters(a: &Args) -> Result<(), Error> {
    let key = a.key("import get-parameters")?;
    let bits = match a.flag("--bits") {
        None => None,
        Some("2048") => Some(2048),
        Some("3072") => Some(3072),
        Some("4096") => Some(4096),
        Some(_) => return Err(usage("--bits takes 2048, 3072 or 4096")),
    };
    let out = Path::new(
        a.flag("--out")
            .ok_or_else(|| usage("import get-parameters needs --out DIR"))?,
    );
    let s = open(a.flag("--pin"))?;
    let t = resolve(&s, key)?;
    let r = Record::read(&s, t.handle)?;
    let h = request(&s, key, &r.id, bits)?;
    let p = read_parameters(&s, h)?;
    let pem = public_pem(&public_key(&p.modulus, &p.exponent)?)?;
    std::fs::create_dir_all(out)
        .map_err(|e| refused(format!("cannot make {}: {e}", out.display())))?;
    for (name, bytes) in [("public.pem", pem.as_bytes()), ("token", &p.token[..])] {
        let path = out.join(name);
        std::fs::write(&path, bytes)
            .map_err(|e| refused(format!("cannot write {}: {e}", path.display())))?;
    }
    println!(
        "wrote {} (RSA-{} import public key) and {} ({} bytes)",
        out.join("public.pem").display(),
        p.modulus.len() * 8,
        out.join("token").display(),
        p.token.len()
    );
    println!(
        "the token expires at {} ({}) and serves one import into key {}",
        iso(p.expiry),
        relative(p.expiry),
        r.id_hex()
    );
    Ok(())
}

/// `--algorithm`: how the blob was wrapped.
#[derive(Clone, Copy)]
enum Algorithm {
    Oaep(OaepHash),
    RsaAes(OaepHash),
}

impl Algorithm {
    fn parse(s: &str) -> Result<Algorithm, Error> {
        Ok(match s {
            "RSAES_OAEP_SHA_1" => Algorithm::Oaep(OaepHash::Sha1),
            "RSAES_OAEP_SHA_256" => Algorithm::Oaep(OaepHash::Sha256),
            "RSA_AES_KEY_WRAP_SHA_1" => Algorithm::RsaAes(OaepHash::Sha1),
            "RSA_AES_KEY_WRAP_SHA_256" => Algorithm::RsaAes(OaepHash::Sha256),
            other => {
                return Err(usage(format!(
                    "--algorithm {other:?} is not RSAES_OAEP_SHA_1, RSAES_OAEP_SHA_256, RSA_AES_KEY_WRAP_SHA_1 or RSA_AES_KEY_WRAP_SHA_256"
                )))
            }
        })
    }
}

fn read(path: &str, what: &str) -> Result<Vec<u8>, Error> {
    std::fs::read(path).map_err(|e| refused(format!("cannot read the {what} {path}: {e}")))
}

/// The import public key that carries `token`; the module matches vendor attributes
/// of a find template itself.
pub fn import_key(s: &Session, token: &[u8]) -> Result<Option<ObjectHandle>, Error> {
    let found = s
        .find_objects(&[
            Attribute::Class(ObjectClass::PUBLIC_KEY),
            bytes(CKA_KMSBRIDGE_IMPORT_TOKEN, token),
        ])
        .map_err(|e| explain(e, Op::Find))?;
    Ok(found.first().copied())
}

/// What an import brings: the wrapped material and the token it was wrapped for.
pub struct Material<'a> {
    pub blob: &'a [u8],
    pub token: &'a [u8],
    /// An `--algorithm` word.
    pub algorithm: &'a str,
    /// CKA_KMSBRIDGE_MATERIAL_EXPIRY, unix seconds.
    pub expiry: Option<u64>,
}

/// C_UnwrapKey of the material into the key of record `r` (KEY as the user named it).
pub fn unwrap(s: &Session, key: &str, r: &Record, m: &Material) -> Result<ObjectHandle, Error> {
    let algorithm = Algorithm::parse(m.algorithm)?;
    let Some(wrapping) = import_key(s, m.token)? else {
        return Err(refused(format!(
            "no import key carries this token (unknown, expired or already used): run `kmsbridge import get-parameters {key}` again and wrap the material under the new public key"
        )));
    };
    let mut template = vec![
        bytes(CKA_KMSBRIDGE_IMPORT_TOKEN, m.token),
        Attribute::Id(r.id.clone()),
    ];
    if let Some(t) = m.expiry {
        template.push(ulong(CKA_KMSBRIDGE_MATERIAL_EXPIRY, t));
    }
    let result = match algorithm {
        Algorithm::Oaep(hash) => {
            let (h, mgf) = match hash {
                OaepHash::Sha1 => (MechanismType::SHA1, PkcsMgfType::MGF1_SHA1),
                OaepHash::Sha256 => (MechanismType::SHA256, PkcsMgfType::MGF1_SHA256),
            };
            let params = PkcsOaepParams::new(h, mgf, PkcsOaepSource::empty());
            s.unwrap_key(&Mechanism::RsaPkcsOaep(params), wrapping, m.blob, &template)
        }
        Algorithm::RsaAes(hash) => rsa_aes_unwrap::unwrap(s, hash, wrapping, m.blob, &template),
    };
    let spec = r.spec();
    result.map_err(|e| {
        explain(
            e,
            Op::Import {
                key,
                spec: &spec,
                algorithm: m.algorithm,
            },
        )
    })
}

fn key_material(a: &Args) -> Result<(), Error> {
    let key = a.key("import key-material")?;
    let blob = a
        .flag("--blob")
        .ok_or_else(|| usage("import key-material needs --blob FILE"))?;
    let token = a
        .flag("--token")
        .ok_or_else(|| usage("import key-material needs --token FILE"))?;
    let algorithm = a
        .flag("--algorithm")
        .ok_or_else(|| usage("import key-material needs --algorithm ALG"))?;
    Algorithm::parse(algorithm)?;
    let expiry = a.number("--expire-unix", 1..=u64::MAX)?;
    if let Some(t) = expiry.filter(|t| *t <= now()) {
        return Err(usage(format!(
            "--expire-unix {t} ({}) is in the past",
            iso(t)
        )));
    }
    let (blob, token) = (read(blob, "blob")?, read(token, "token")?);
    let s = open(a.flag("--pin"))?;
    let t = resolve(&s, key)?;
    let r = Record::read(&s, t.handle)?;
    let material = Material {
        blob: &blob,
        token: &token,
        algorithm,
        expiry,
    };
    unwrap(&s, key, &r, &material)?;
    let after = Record::read(&s, current(&s, &r.id, t.handle)?)?;
    let expires = match after.material_expiry.filter(|e| *e != 0) {
        Some(e) => format!("; the material expires at {} ({})", iso(e), relative(e)),
        None => String::new(),
    };
    println!(
        "imported key material into key {} ({}, origin {}): it is {}{expires}",
        after.id_hex(),
        after.spec(),
        after.origin_name(),
        after.state_name()
    );
    Ok(())
}
