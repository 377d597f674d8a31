//! Slots, tokens and mechanisms: one slot per instance.

use crate::config::InstanceType;
use crate::error::{rule, Result};
use crate::instance::Instance;
use crate::provider::Provider;
use cryptoki_sys::*;

pub const MANUFACTURER: &str = "kmsbridge";
pub const LIBRARY_VERSION: CK_VERSION = CK_VERSION { major: 0, minor: 1 };

/// Copy `s` into a blank-padded PKCS#11 text field.
pub fn pad<const N: usize>(s: &str) -> [u8; N] {
    let mut out = [b' '; N];
    for (o, b) in out.iter_mut().zip(s.as_bytes()) {
        *o = *b;
    }
    out
}

impl Provider {
    pub fn slot_list(&self) -> Vec<CK_SLOT_ID> {
        self.instances.iter().map(|i| i.slot_id).collect()
    }

    fn inst_by_slot(&self, slot: CK_SLOT_ID) -> Result<&Instance> {
        self.instance(self.instance_index(slot)?)
    }

    pub fn slot_info(&self, slot: CK_SLOT_ID) -> Result<CK_SLOT_INFO> {
        let inst = self.inst_by_slot(slot)?;
        let mut flags = CKF_TOKEN_PRESENT;
        if inst.kind == InstanceType::Hardware {
            flags |= CKF_HW_SLOT;
        }
        Ok(CK_SLOT_INFO {
            slotDescription: pad(&format!("kmsbridge instance {}", inst.name)),
            manufacturerID: pad(MANUFACTURER),
            flags,
            hardwareVersion: LIBRARY_VERSION,
            firmwareVersion: LIBRARY_VERSION,
        })
    }

    pub fn token_info(&self, slot: CK_SLOT_ID) -> Result<CK_TOKEN_INFO> {
        let inst = self.inst_by_slot(slot)?;
        let mut flags = CKF_RNG | CKF_LOGIN_REQUIRED;
        let mut label = inst.name.clone();
        match inst.admin.token.as_ref().and_then(|t| t.token_state().ok()) {
            // The token keeps its own PINs and initialisation (a software store).
            Some(t) => {
                if t.initialized {
                    flags |= CKF_TOKEN_INITIALIZED;
                }
                if t.user_pin_initialized {
                    flags |= CKF_USER_PIN_INITIALIZED;
                }
                flags |= t.pin_flags;
                label = t.label.filter(|l| !l.is_empty()).unwrap_or(label);
            }
            None => {
                flags |= CKF_TOKEN_INITIALIZED;
                if inst.user_pin_initialized() {
                    flags |= CKF_USER_PIN_INITIALIZED;
                }
                flags |= inst.access.pin_flags();
            }
        }
        // The application logs in from its client-key file, without a PIN.
        if crate::access::client_key_file().is_some() {
            flags |= CKF_PROTECTED_AUTHENTICATION_PATH;
        }
        // An application that logs in with a client key sees its credential's count.
        if let Some(f) = inst.access.credential_flags(inst) {
            let user_bits = CKF_USER_PIN_COUNT_LOW | CKF_USER_PIN_FINAL_TRY | CKF_USER_PIN_LOCKED;
            flags = (flags & !user_bits) | f;
        }
        // Device facts only when already connected: token info never waits on an HSM.
        let unknown = CK_UNAVAILABLE_INFORMATION;
        let model = match inst.kind {
            InstanceType::Hardware => "hardware",
            InstanceType::Software => "software",
        };
        let rw = inst.rw_sessions.load(std::sync::atomic::Ordering::Relaxed);
        Ok(CK_TOKEN_INFO {
            label: pad(&label),
            manufacturerID: pad(MANUFACTURER),
            model: pad(model),
            serialNumber: pad(&inst.serial),
            flags,
            ulMaxSessionCount: CK_EFFECTIVELY_INFINITE,
            ulSessionCount: inst.session_count() as CK_ULONG,
            ulMaxRwSessionCount: CK_EFFECTIVELY_INFINITE,
            ulRwSessionCount: rw as CK_ULONG,
            ulMaxPinLen: 255,
            ulMinPinLen: 4,
            ulTotalPublicMemory: unknown,
            ulFreePublicMemory: unknown,
            ulTotalPrivateMemory: unknown,
            ulFreePrivateMemory: unknown,
            hardwareVersion: LIBRARY_VERSION,
            firmwareVersion: LIBRARY_VERSION,
            utcTime: [b' '; 16],
        })
    }

    pub fn mechanism_list(&self, slot: CK_SLOT_ID) -> Result<Vec<CK_MECHANISM_TYPE>> {
        let inst = self.inst_by_slot(slot)?;
        Ok(offered(inst)?.into_iter().map(|(t, _)| t).collect())
    }

    pub fn mechanism_info(
        &self,
        slot: CK_SLOT_ID,
        ty: CK_MECHANISM_TYPE,
    ) -> Result<CK_MECHANISM_INFO> {
        let inst = self.inst_by_slot(slot)?;
        match offered(inst)?.into_iter().find(|(t, _)| *t == ty) {
            Some((_, info)) => Ok(info),
            None => rule(
                CKR_MECHANISM_INVALID,
                "mechanism not offered by this instance",
            ),
        }
    }

    pub fn init_token(&self, slot: CK_SLOT_ID, so_pin: &[u8], label: &[u8; 32]) -> Result<()> {
        let inst = self.inst_by_slot(slot)?;
        let Some(token) = &inst.admin.token else {
            // Re-initialising would wipe the HSM token behind the instance.
            return rule(
                CKR_FUNCTION_NOT_SUPPORTED,
                "C_InitToken is not offered on hardware instances",
            );
        };
        if inst.session_count() > 0 {
            return rule(CKR_SESSION_EXISTS, "close every session before C_InitToken");
        }
        let label = String::from_utf8_lossy(label)
            .trim_end_matches([' ', '\0'])
            .to_string();
        let r = token.init_token(so_pin, &label).map_err(Into::into);
        if r.is_ok() {
            inst.objects.clear();
            inst.audit.token_replaced();
        }
        crate::audit::hooks::admin_done(inst, "init-token", &label, &r);
        r
    }
}

/// The backend's mechanisms and the module's own key-management ones (docs/KEYS.md).
fn offered(inst: &Instance) -> Result<Vec<(CK_MECHANISM_TYPE, CK_MECHANISM_INFO)>> {
    let mut list = inst.backend.mechanisms()?;
    if !inst.legacy_mechanisms {
        list.retain(|(t, _)| !kmsbridge_bridge::mech::is_legacy(*t));
    }
    list.push((
        crate::vendor::CKM_KMSBRIDGE_IMPORT_PARAMETERS,
        CK_MECHANISM_INFO {
            ulMinKeySize: 2048,
            ulMaxKeySize: 4096,
            flags: CKF_GENERATE,
        },
    ));
    list.push((
        crate::vendor::CKM_KMSBRIDGE_KEY_ROTATE,
        CK_MECHANISM_INFO {
            ulMinKeySize: 16,
            ulMaxKeySize: 32,
            flags: CKF_GENERATE,
        },
    ));
    if inst.kind == crate::config::InstanceType::Hardware {
        list.push((
            crate::vendor::CKM_KMSBRIDGE_CLUSTER_INIT,
            CK_MECHANISM_INFO {
                ulMinKeySize: 32,
                ulMaxKeySize: 32,
                flags: CKF_GENERATE,
            },
        ));
    }
    Ok(list)
}
