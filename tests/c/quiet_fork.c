/*
 * quiet_fork: the module leaves the calling thread as it found it, in a process and
 * in its forked child (docs/HOST_PROCESS.md). Run by tests/tests/host_process.rs.
 *
 *   quiet_fork MODULE LABEL PIN
 *
 * Loads MODULE with dlopen, links libcrypto itself (as an OpenSSL-based server
 * does), initialises, logs in, generates an EC P-256 key pair, signs; forks, and the
 * child initialises again, logs in, finds the key and signs. After EVERY PKCS#11
 * call it checks: the OpenSSL error queue is empty (or, when the program put an error
 * there itself before the call, holds exactly that error), errno is what it was set
 * to before the call, and the thread's signal mask is unchanged. Prints each
 * violation and exits 1 if there was any; 2 when a call fails outright.
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/err.h>
#include <p11-kit/pkcs11.h>

static CK_FUNCTION_LIST *p11;
static int violations;
static int calls;
static const char *who = "parent";

/* A library code no one else uses: the program's own queued error. */
#define OWN_LIB ERR_LIB_USER
#define OWN_REASON 77

static void same_mask(const sigset_t *before, const char *what)
{
	sigset_t now;
	pthread_sigmask(SIG_SETMASK, NULL, &now);
	for (int s = 1; s < NSIG; s++) {
		if (sigismember(before, s) != sigismember(&now, s)) {
			fprintf(stderr, "%s: %s changed the signal mask (signal %d)\n", who, what, s);
			violations++;
			return;
		}
	}
}

/* Runs one PKCS#11 call with the checks around it. Every other call has the
 * program's own error queued first: it must still be there, alone, after. */
#define CALL(expr) check_call(#expr, ({                                         \
	sigset_t mask_;                                                         \
	pthread_sigmask(SIG_SETMASK, NULL, &mask_);                             \
	int own_ = (calls++ % 2) == 1;                                          \
	if (own_)                                                               \
		ERR_raise(OWN_LIB, OWN_REASON);                                 \
	errno = EDOM;                                                           \
	CK_RV rv_ = (expr);                                                     \
	int errno_ = errno;                                                     \
	after_call(#expr, own_, errno_, &mask_);                                \
	rv_; }))

static void after_call(const char *what, int own, int errno_after, const sigset_t *mask)
{
	if (errno_after != EDOM) {
		fprintf(stderr, "%s: %s changed errno to %d\n", who, what, errno_after);
		violations++;
	}
	same_mask(mask, what);
	if (own) {
		unsigned long e = ERR_get_error();
		if (ERR_GET_LIB(e) != OWN_LIB || ERR_GET_REASON(e) != OWN_REASON) {
			fprintf(stderr, "%s: %s lost the program's own queued error (first now 0x%lx)\n",
				who, what, e);
			violations++;
		}
	}
	if (ERR_peek_error() != 0) {
		fprintf(stderr, "%s: %s left errors on the OpenSSL error queue:\n", who, what);
		ERR_print_errors_fp(stderr);
		violations++;
	}
	ERR_clear_error();
}

static CK_RV check_call(const char *what, CK_RV rv)
{
	if (rv != CKR_OK) {
		fprintf(stderr, "%s: %s failed: 0x%lx\n", who, what, (unsigned long)rv);
		exit(2);
	}
	return rv;
}

static CK_SLOT_ID find_slot(const char *label)
{
	CK_SLOT_ID slots[64];
	CK_ULONG n = 64;
	CALL(p11->C_GetSlotList(CK_TRUE, slots, &n));
	for (CK_ULONG i = 0; i < n; i++) {
		CK_TOKEN_INFO ti;
		CALL(p11->C_GetTokenInfo(slots[i], &ti));
		size_t len = strlen(label);
		if (len <= sizeof ti.label && memcmp(ti.label, label, len) == 0 &&
		    (len == sizeof ti.label || ti.label[len] == ' '))
			return slots[i];
	}
	fprintf(stderr, "%s: no token labelled %s\n", who, label);
	exit(2);
}

static CK_SESSION_HANDLE open_and_login(const char *label, const char *pin)
{
	CK_C_INITIALIZE_ARGS args = { .flags = CKF_OS_LOCKING_OK };
	CALL(p11->C_Initialize(&args));
	CK_SLOT_ID slot = find_slot(label);
	CK_SESSION_HANDLE s;
	CALL(p11->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s));
	CALL(p11->C_Login(s, CKU_USER, (CK_UTF8CHAR *)pin, strlen(pin)));
	return s;
}

static void sign(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE key)
{
	CK_MECHANISM mech = { CKM_ECDSA, NULL, 0 };
	unsigned char hash[32], sig[256];
	memset(hash, 0x5a, sizeof hash);
	CK_ULONG len = sizeof sig;
	CALL(p11->C_SignInit(s, &mech, key));
	CALL(p11->C_Sign(s, hash, sizeof hash, sig, &len));
}

static CK_OBJECT_HANDLE find_key(CK_SESSION_HANDLE s, const char *label)
{
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &cls, sizeof cls },
		{ CKA_LABEL, (void *)label, strlen(label) },
	};
	CK_OBJECT_HANDLE h[2];
	CK_ULONG n = 0;
	CALL(p11->C_FindObjectsInit(s, t, 2));
	CALL(p11->C_FindObjects(s, h, 2, &n));
	CALL(p11->C_FindObjectsFinal(s));
	if (n != 1) {
		fprintf(stderr, "%s: %lu keys labelled %s\n", who, (unsigned long)n, label);
		exit(2);
	}
	return h[0];
}

static int child(const char *label, const char *pin, const char *key_label)
{
	who = "child";
	CK_SESSION_HANDLE s = open_and_login(label, pin);
	CK_OBJECT_HANDLE key = find_key(s, key_label);
	sign(s, key);
	sign(s, key);
	CALL(p11->C_Logout(s));
	CALL(p11->C_CloseSession(s));
	CALL(p11->C_Finalize(NULL));
	return violations ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: %s MODULE LABEL PIN\n", argv[0]);
		return 2;
	}
	const char *label = argv[2], *pin = argv[3];
	/* A mask that is not the default, so a change to it shows. */
	sigset_t usr2;
	sigemptyset(&usr2);
	sigaddset(&usr2, SIGUSR2);
	pthread_sigmask(SIG_BLOCK, &usr2, NULL);
	ERR_clear_error();

	void *mod = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
	if (!mod) {
		fprintf(stderr, "dlopen: %s\n", dlerror());
		return 2;
	}
	CK_C_GetFunctionList get = (CK_C_GetFunctionList)dlsym(mod, "C_GetFunctionList");
	if (!get || get(&p11) != CKR_OK) {
		fprintf(stderr, "no C_GetFunctionList\n");
		return 2;
	}
	ERR_clear_error();

	CK_SESSION_HANDLE s = open_and_login(label, pin);
	char key_label[64];
	snprintf(key_label, sizeof key_label, "quiet-fork-%ld", (long)getpid());
	CK_BYTE p256[] = { 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07 };
	CK_BBOOL yes = CK_TRUE;
	CK_ATTRIBUTE pub[] = {
		{ CKA_EC_PARAMS, p256, sizeof p256 },
		{ CKA_TOKEN, &yes, sizeof yes },
		{ CKA_VERIFY, &yes, sizeof yes },
		{ CKA_LABEL, key_label, strlen(key_label) },
	};
	CK_ATTRIBUTE priv[] = {
		{ CKA_TOKEN, &yes, sizeof yes },
		{ CKA_PRIVATE, &yes, sizeof yes },
		{ CKA_SENSITIVE, &yes, sizeof yes },
		{ CKA_SIGN, &yes, sizeof yes },
		{ CKA_LABEL, key_label, strlen(key_label) },
	};
	CK_MECHANISM gen = { CKM_EC_KEY_PAIR_GEN, NULL, 0 };
	CK_OBJECT_HANDLE pubh, privh;
	CALL(p11->C_GenerateKeyPair(s, &gen, pub, 4, priv, 5, &pubh, &privh));
	sign(s, privh);

	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		perror("fork");
		return 2;
	}
	if (pid == 0)
		_exit(child(label, pin, key_label));
	int status;
	if (waitpid(pid, &status, 0) != pid) {
		perror("waitpid");
		return 2;
	}

	/* The parent goes on with its own sessions. */
	sign(s, privh);
	CALL(p11->C_DestroyObject(s, privh));
	CALL(p11->C_DestroyObject(s, pubh));
	CALL(p11->C_Logout(s));
	CALL(p11->C_CloseSession(s));
	CALL(p11->C_Finalize(NULL));

	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "child ended with status 0x%x\n", status);
		return WIFEXITED(status) ? WEXITSTATUS(status) : 3;
	}
	if (violations) {
		fprintf(stderr, "parent: %d violation(s) in %d calls\n", violations, calls);
		return 1;
	}
	printf("quiet_fork: %d calls in the parent, all quiet\n", calls);
	return 0;
}
