//! The instance a campaign fuzzes, made once in a directory: a software instance
//! (its store in DIR/store) or a hardware instance over a SoftHSM2 token made by
//! `ci/softhsm/setup`; both with the fixture keys programs use. `prepare` runs in a
//! process of its own before the fuzzer starts; `start` runs in every fuzzed process.

use crate::exec::{p11, Ctx};
use cryptoki_sys::*;
use std::path::{Path, PathBuf};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Software,
    Hardware,
}

impl Kind {
    pub fn parse(s: &str) -> Option<Kind> {
        match s {
            "software" => Some(Kind::Software),
            "hardware" => Some(Kind::Hardware),
            _ => None,
        }
    }
}

const USER_PIN: &str = "fuzz-user-1234";
const SO_PIN: &str = "fuzz-so-5678";

/// Labels of the fixtures, in the order programs index them.
pub const FIXTURES: &[&str] = &[
    "fz-aes", "fz-kek", "fz-hmac", "fz-des3", "fz-rsa", "fz-ec", "fz-ed", "fz-data",
];

fn env_file(dir: &Path) -> PathBuf {
    dir.join("rig.env")
}

/// Makes the instance in `dir` (which must not hold one) and writes `dir/rig.env`.
pub fn prepare(kind: Kind, dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let dir = dir.canonicalize().map_err(|e| e.to_string())?;
    let (vars, user_pin, so_pin) = match kind {
        Kind::Software => software_config(&dir)?,
        Kind::Hardware => hardware_config(&dir)?,
    };
    for (k, v) in &vars {
        std::env::set_var(k, v);
    }
    let f = function_list()?;
    check(p11!(f, C_Initialize(std::ptr::null_mut())), "C_Initialize")?;
    let slot = first_slot(f)?;
    if kind == Kind::Software {
        init_software_token(f, slot, &user_pin, &so_pin)?;
    }
    let mut s = 0;
    check(
        p11!(
            f,
            C_OpenSession(
                slot,
                CKF_SERIAL_SESSION | CKF_RW_SESSION,
                std::ptr::null_mut(),
                None,
                &mut s
            )
        ),
        "C_OpenSession",
    )?;
    let mut pin = user_pin.clone().into_bytes();
    check(
        p11!(
            f,
            C_Login(s, CKU_USER, pin.as_mut_ptr(), pin.len() as CK_ULONG)
        ),
        "C_Login",
    )?;
    crate::fixtures::make(f, s)?;
    p11!(f, C_Finalize(std::ptr::null_mut()));
    let mut text = format!("KIND={kind:?}\nUSER_PIN={user_pin}\nSO_PIN={so_pin}\n");
    for (k, v) in &vars {
        text.push_str(&format!("{k}={v}\n"));
    }
    std::fs::write(env_file(&dir), text).map_err(|e| e.to_string())
}

/// Sets the instance's variables in this process and returns its PINs. Call before
/// the module is initialised.
pub fn load(dir: &Path) -> Result<(Vec<u8>, Vec<u8>), String> {
    let text = std::fs::read_to_string(env_file(dir))
        .map_err(|e| format!("{}: {e} (run `prepare` first)", env_file(dir).display()))?;
    let (mut user, mut so) = (Vec::new(), Vec::new());
    for line in text.lines() {
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        match k {
            "USER_PIN" => user = v.as_bytes().to_vec(),
            "SO_PIN" => so = v.as_bytes().to_vec(),
            "KIND" => {}
            _ => std::env::set_var(k, v),
        }
    }
    Ok((user, so))
}

/// Initialises the module in this process and makes the context programs run in.
pub fn start(user_pin: Vec<u8>, so_pin: Vec<u8>) -> Result<Ctx, String> {
    let f = function_list()?;
    check(p11!(f, C_Initialize(std::ptr::null_mut())), "C_Initialize")?;
    let slot = first_slot(f)?;
    let mut c = Ctx {
        f,
        slot,
        anchor: 0,
        fixtures: Vec::new(),
        ec_point: Vec::new(),
        user_pin,
        so_pin,
    };
    crate::misc::start_anchor(&mut c)?;
    crate::fixtures::find(&mut c)?;
    Ok(c)
}

fn function_list() -> Result<&'static CK_FUNCTION_LIST, String> {
    let mut p: *mut CK_FUNCTION_LIST = std::ptr::null_mut();
    check(kmsbridge::C_GetFunctionList(&mut p), "C_GetFunctionList")?;
    // SAFETY: on CKR_OK the module points at its static, immutable table.
    unsafe { p.as_ref() }.ok_or_else(|| "C_GetFunctionList gave NULL".to_string())
}

pub(crate) fn check(rv: CK_RV, what: &str) -> Result<(), String> {
    if rv == CKR_OK {
        Ok(())
    } else {
        Err(format!("{what}: {rv:#x}"))
    }
}

fn first_slot(f: &CK_FUNCTION_LIST) -> Result<CK_SLOT_ID, String> {
    let mut slots = [0 as CK_SLOT_ID; 4];
    let mut n = slots.len() as CK_ULONG;
    check(
        p11!(f, C_GetSlotList(CK_FALSE, slots.as_mut_ptr(), &mut n)),
        "C_GetSlotList",
    )?;
    slots
        .first()
        .copied()
        .filter(|_| n > 0)
        .ok_or_else(|| "no slot".to_string())
}

fn init_software_token(
    f: &CK_FUNCTION_LIST,
    slot: CK_SLOT_ID,
    user: &str,
    so: &str,
) -> Result<(), String> {
    let mut label = [b' '; 32];
    if let Some(l) = label.get_mut(..9) {
        l.copy_from_slice(b"fuzz-soft");
    }
    let mut so_pin = so.as_bytes().to_vec();
    let mut user_pin = user.as_bytes().to_vec();
    check(
        p11!(
            f,
            C_InitToken(
                slot,
                so_pin.as_mut_ptr(),
                so_pin.len() as CK_ULONG,
                label.as_mut_ptr()
            )
        ),
        "C_InitToken",
    )?;
    let mut s = 0;
    check(
        p11!(
            f,
            C_OpenSession(
                slot,
                CKF_SERIAL_SESSION | CKF_RW_SESSION,
                std::ptr::null_mut(),
                None,
                &mut s
            )
        ),
        "C_OpenSession",
    )?;
    check(
        p11!(
            f,
            C_Login(s, CKU_SO, so_pin.as_mut_ptr(), so_pin.len() as CK_ULONG)
        ),
        "C_Login(SO)",
    )?;
    check(
        p11!(
            f,
            C_InitPIN(s, user_pin.as_mut_ptr(), user_pin.len() as CK_ULONG)
        ),
        "C_InitPIN",
    )?;
    check(p11!(f, C_CloseSession(s)), "C_CloseSession")
}

type Vars = Vec<(String, String)>;

/// Logging off (a failing call is the normal case here), the audit trail buffered
/// (on: its code is fuzzed too), and the highest wrong-PIN bound.
fn software_config(dir: &Path) -> Result<(Vars, String, String), String> {
    let conf = dir.join("kmsbridge.toml");
    let text = format!(
        "# Written by the fuzz harness (fuzz/src/rig.rs).\n[log]\nlevel = \"off\"\n\n\
         [[instance]]\nname = \"fuzz-soft\"\ntype = \"software\"\nstore = \"{}\"\n\
         max_failed_logins = 1000\naudit = {{ durability = \"buffered\" }}\n",
        dir.join("store").display()
    );
    std::fs::write(&conf, text).map_err(|e| e.to_string())?;
    let vars = vec![("KMSBRIDGE_CONF".to_string(), conf.display().to_string())];
    Ok((vars, USER_PIN.to_string(), SO_PIN.to_string()))
}

/// `ci/softhsm/setup DIR`, its config then given the settings above.
fn hardware_config(dir: &Path) -> Result<(Vars, String, String), String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ci/softhsm/setup");
    let out = std::process::Command::new(&script)
        .arg(dir)
        .output()
        .map_err(|e| format!("{}: {e}", script.display()))?;
    if !out.status.success() {
        return Err(format!(
            "{} failed: {}",
            script.display(),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let mut vars = Vars::new();
    let (mut user, mut so) = (String::new(), String::new());
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Some((k, v)) = line.strip_prefix("export ").and_then(|l| l.split_once('=')) else {
            continue;
        };
        let v = v.trim_matches('\'').to_string();
        match k {
            "KMSBRIDGE_USER_PIN" => user = v,
            "KMSBRIDGE_SO_PIN" => so = v,
            "SOFTHSM2_CONF" | "KMSBRIDGE_CONF" => vars.push((k.to_string(), v)),
            _ => {}
        }
    }
    let conf = dir.join("kmsbridge.toml");
    let text = std::fs::read_to_string(&conf).map_err(|e| e.to_string())?;
    let mut edited = String::new();
    for line in text.lines() {
        // The fewest iterations the config takes (10,000; the script's default is
        // 60,000): the harness logs in again after every program that logged out.
        if let Some(which) = ["user_pin_hash", "so_pin_hash"]
            .iter()
            .find(|w| line.starts_with(*w))
        {
            let pin = if *which == "user_pin_hash" {
                &user
            } else {
                &so
            };
            edited.push_str(&format!("{which} = \"{}\"\n", pin_hash(pin)?));
            continue;
        }
        if line.starts_with("file = ") {
            edited.push_str("level = \"off\"\n");
            continue;
        }
        if let Some(rest) = line.strip_prefix("audit = { ") {
            edited.push_str(&format!("audit = {{ durability = \"buffered\", {rest}\n"));
            continue;
        }
        edited.push_str(line);
        edited.push('\n');
        if line == "type = \"hardware\"" {
            edited.push_str("max_failed_logins = 1000\n");
        }
    }
    std::fs::write(&conf, edited).map_err(|e| e.to_string())?;
    Ok((vars, user, so))
}

/// `ci/softhsm/pin-hash PIN 10000`.
fn pin_hash(pin: &str) -> Result<String, String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ci/softhsm/pin-hash");
    let out = std::process::Command::new("python3")
        .arg(&script)
        .args([pin, "10000"])
        .output()
        .map_err(|e| format!("{}: {e}", script.display()))?;
    if !out.status.success() {
        return Err(format!("{} failed", script.display()));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}
