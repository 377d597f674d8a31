//! Rotation of database credentials against a real PostgreSQL started by the test
//! harness (initdb + pg_ctl on a loopback port), while an application keeps connecting
//! with whatever ACSCurrent says.

// Tests and benches: a panic is how they report a failure.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use kmsbridge_secrets::*;
use kmsbridge_secrets_pg::{connect, set_password, DualAccount, SingleUser};
use kmsbridge_testkit::postgres::Postgres;

/// The stored record, as the provider keeps it: one serialized secret that every
/// reader re-reads.
type Store = Arc<Mutex<String>>;

struct Rig {
    pg: Postgres,
    admin: DbCredential,
    wrapper: Arc<LocalKeyWrapper>,
    store: Store,
}

fn cred(pg: &Postgres, user: &str, password: &str) -> DbCredential {
    DbCredential {
        engine: "postgres".into(),
        host: "127.0.0.1".into(),
        port: pg.port,
        username: user.into(),
        password: password.into(),
        dbname: Some("postgres".into()),
        extra: Default::default(),
    }
}

/// A server with a group role `app_owner`, a login user `app` in it, and the secret
/// `prod/app/db` holding app's credential.
fn rig() -> Rig {
    let pg = Postgres::start();
    let admin = cred(&pg, &pg.superuser, &pg.password);
    let mut c = connect(&admin).unwrap();
    c.batch_execute("CREATE ROLE app_owner NOLOGIN; CREATE ROLE app LOGIN IN ROLE app_owner")
        .unwrap();
    let first = GenerationSpec::database_password().generate().unwrap();
    set_password(&mut c, "app", &first).unwrap();
    let wrapper = Arc::new(LocalKeyWrapper::random("cmk-default").unwrap());
    let mut s = Secret::new(
        SecretName::new("prod/app/db").unwrap(),
        SecretType::DatabaseCredential,
        1,
    );
    s.put_value(
        &*wrapper,
        None,
        &cred(&pg, "app", &first).to_value().unwrap(),
        None,
        1,
    )
    .unwrap();
    let store = Arc::new(Mutex::new(to_record(&s).unwrap()));
    Rig {
        pg,
        admin,
        wrapper,
        store,
    }
}

fn load(r: &Rig) -> Secret {
    from_record(&r.store.lock().unwrap()).unwrap()
}

fn current_cred(store: &Store, w: &LocalKeyWrapper) -> DbCredential {
    let s = from_record(&store.lock().unwrap()).unwrap();
    DbCredential::from_value(&s.read(w, &Selector::default()).unwrap().1).unwrap()
}

/// Rotates with `target`, storing the record after every step.
fn rotate_stored(
    r: &Rig,
    target: &mut dyn RotationTarget,
) -> Result<RotationReport, RotationError> {
    let mut s = load(r);
    let store = r.store.clone();
    rotate(&mut s, &*r.wrapper, target, &mut |x| {
        *store.lock().unwrap() = to_record(x).map_err(|e| e.to_string())?;
        Ok(())
    })
}

/// An application: every `period`, reads ACSCurrent from the store and logs in with it.
struct App {
    stop: Arc<AtomicBool>,
    handle: thread::JoinHandle<(u32, Vec<(Instant, String)>)>,
}

impl App {
    fn start(r: &Rig, period: Duration) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let (store, w, flag) = (r.store.clone(), r.wrapper.clone(), stop.clone());
        let handle = thread::spawn(move || {
            let (mut ok, mut failed) = (0u32, Vec::new());
            while !flag.load(Ordering::Relaxed) {
                let c = current_cred(&store, &w);
                match connect(&c).and_then(|mut cl| {
                    cl.simple_query("SELECT 1")
                        .map_err(|e| TargetError(e.to_string()))
                }) {
                    Ok(_) => ok += 1,
                    Err(e) => failed.push((Instant::now(), e.0)),
                }
                thread::sleep(period);
            }
            (ok, failed)
        });
        App { stop, handle }
    }

    fn finish(self) -> (u32, Vec<(Instant, String)>) {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().unwrap()
    }
}

#[test]
fn dual_account_rotation_never_breaks_the_application() {
    let r = rig();
    let app = App::start(&r, Duration::from_millis(100));
    thread::sleep(Duration::from_millis(300));
    let mut users = vec![current_cred(&r.store, &r.wrapper).username.clone()];
    let mut passwords = Vec::new();
    for _ in 0..4 {
        let mut target = DualAccount::new(r.admin.clone());
        let rep = rotate_stored(&r, &mut target).unwrap();
        assert!(!rep.resumed);
        let c = current_cred(&r.store, &r.wrapper);
        users.push(c.username.clone());
        passwords.push(c.password.clone());
        // The previous credential still logs in until the rotation after next.
        let s = load(&r);
        let prev = DbCredential::from_value(
            &s.read(&*r.wrapper, &Selector::Stage(Stage::previous()))
                .unwrap()
                .1,
        )
        .unwrap();
        connect(&prev).unwrap();
        thread::sleep(Duration::from_millis(600));
    }
    let (ok, failed) = app.finish();
    println!(
        "dual-account: 4 rotations, {ok} connections, {} failed",
        failed.len()
    );
    assert!(
        failed.is_empty(),
        "failed connections: {:?}",
        failed.iter().map(|f| &f.1).collect::<Vec<_>>()
    );
    assert!(ok >= 20, "the application ran ({ok} connections)");
    assert_eq!(users, ["app", "app_clone", "app", "app_clone", "app"]);

    // The clone was created with app's memberships.
    let mut admin = connect(&r.admin).unwrap();
    let row = admin
        .query_one(
            "SELECT pg_has_role('app_clone', 'app_owner', 'MEMBER')",
            &[],
        )
        .unwrap();
    assert!(row.get::<_, bool>(0));
    // No password reached the server's log in clear (verifiers only).
    let log = std::fs::read_to_string(r.pg.log_path()).unwrap_or_default();
    for p in &passwords {
        assert!(!log.contains(p.as_str()), "a password is in the server log");
    }
}

#[test]
fn single_user_rotation_failure_window() {
    let r = rig();
    // A tight prober measures the window; the 100 ms application counts what a
    // typical client sees.
    let probe = App::start(&r, Duration::from_millis(2));
    let app = App::start(&r, Duration::from_millis(100));
    thread::sleep(Duration::from_millis(300));
    let mut set_to_finish = Vec::new();
    for _ in 0..3 {
        let old = current_cred(&r.store, &r.wrapper);
        let rep = rotate_stored(&r, &mut SingleUser::new()).unwrap();
        let t: Duration = rep
            .steps
            .iter()
            .filter(|(s, _)| *s >= RotationStep::Test)
            .map(|(_, d)| *d)
            .sum();
        set_to_finish.push(t);
        let new = current_cred(&r.store, &r.wrapper);
        assert_eq!(new.username, "app");
        assert_ne!(new.password, old.password);
        let e = connect(&old)
            .err()
            .expect("the old password no longer logs in");
        assert!(e.0.contains("password authentication failed"), "{}", e.0);
        thread::sleep(Duration::from_millis(500));
    }
    let (pok, pfail) = probe.finish();
    let (aok, afail) = app.finish();
    // Failures cluster around each rotation; the window is each cluster's span.
    let mut windows: Vec<Duration> = Vec::new();
    let mut start: Option<(Instant, Instant)> = None;
    for (t, _) in &pfail {
        start = match start {
            Some((a, b)) if t.duration_since(b) < Duration::from_millis(200) => Some((a, *t)),
            Some((a, b)) => {
                windows.push(b - a);
                Some((*t, *t))
            }
            None => Some((*t, *t)),
        };
    }
    if let Some((a, b)) = start {
        windows.push(b - a);
    }
    println!(
        "single-user: 3 rotations; tight prober {pok} ok / {} failed, failure windows {windows:?} (a single failure counts as 0 ms); \
         100 ms application {aok} ok / {} failed; set-to-promotion time per rotation {set_to_finish:?}",
        pfail.len(),
        afail.len()
    );
    for (_, e) in pfail.iter().chain(&afail) {
        assert!(
            e.contains("password authentication failed"),
            "only the stale password fails: {e}"
        );
    }
}

#[test]
fn rotation_with_postgres_stopped_leaves_current_working() {
    let mut r = rig();
    let before = load(&r);
    let before_id = before.current().unwrap().id.clone();
    let before_cred = current_cred(&r.store, &r.wrapper);
    r.pg.stop();
    for target in [
        &mut SingleUser::new() as &mut dyn RotationTarget,
        &mut DualAccount::new(r.admin.clone()),
    ] {
        let e = rotate_stored(&r, target).unwrap_err();
        let msg = e.to_string();
        println!("{msg}");
        assert_eq!(e.step, RotationStep::Set);
        assert!(
            msg.contains("connecting to 127.0.0.1") && msg.contains("ACSCurrent is unchanged"),
            "{msg}"
        );
        assert!(!msg.contains(&before_cred.password));
    }
    let after = load(&r);
    assert_eq!(after.current().unwrap().id, before_id);
    assert_eq!(
        current_cred(&r.store, &r.wrapper).password,
        before_cred.password
    );
    let st = after.rotation().unwrap();
    assert_eq!(st.failures, 2);
    assert!(st.last_error.as_deref().unwrap().contains("connecting"));

    // With the server back, ACSCurrent still works, and the next rotation resumes.
    r.pg.restart();
    connect(&current_cred(&r.store, &r.wrapper)).unwrap();
    let rep = rotate_stored(&r, &mut SingleUser::new()).unwrap();
    assert!(rep.resumed);
    connect(&current_cred(&r.store, &r.wrapper)).unwrap();
    assert_eq!(load(&r).by_stage(&Stage::previous()).unwrap().id, before_id);
}

#[test]
fn single_user_with_admin_and_resume_after_set() {
    let r = rig();
    let mut t = SingleUser {
        admin: Some(r.admin.clone()),
        spec: GenerationSpec::database_password(),
    };
    let mut s = load(&r);
    // Crash right after set was applied in the database (the test step is not stored).
    let mut n = 0;
    let store = r.store.clone();
    rotate(&mut s, &*r.wrapper, &mut t, &mut |x| {
        n += 1;
        if n == 3 {
            return Err("killed".into());
        }
        *store.lock().unwrap() = to_record(x).unwrap();
        Ok(())
    })
    .unwrap_err();
    // The database already has the pending password; ACSCurrent's no longer works.
    let stored = load(&r);
    let pending = DbCredential::from_value(
        &stored
            .read(&*r.wrapper, &Selector::Stage(Stage::pending()))
            .unwrap()
            .1,
    )
    .unwrap();
    connect(&pending).unwrap();
    // Resuming, set sees the pending password already works and finishes.
    let rep = rotate_stored(&r, &mut SingleUser::new()).unwrap();
    assert!(rep.resumed);
    assert_eq!(
        current_cred(&r.store, &r.wrapper).password,
        pending.password
    );
}
