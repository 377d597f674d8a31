/*
 * quiet_pipe: a C client that does not ignore SIGPIPE keeps calling the module
 * while a node's p11-kit server is killed under it, and is not killed by SIGPIPE
 * (docs/HOST_PROCESS.md). Run by tests/tests/host_process.rs.
 *
 *   quiet_pipe MODULE LABEL PIN ROUNDS
 *
 * Initialises, logs in, generates an EC P-256 key pair (session objects), signs,
 * prints "ready" and waits for a line on stdin (the test kills a node meanwhile);
 * then makes ROUNDS rounds of sign, random and key generation, whatever each
 * answers, and exits 0. SIGPIPE keeps its default action: a write to the dead
 * server's socket without MSG_NOSIGNAL would end the process.
 */
#include <dlfcn.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <p11-kit/pkcs11.h>

static CK_FUNCTION_LIST *p11;

static void must(const char *what, CK_RV rv)
{
	if (rv != CKR_OK) {
		fprintf(stderr, "%s failed: 0x%lx\n", what, (unsigned long)rv);
		exit(2);
	}
}

static CK_SLOT_ID find_slot(const char *label)
{
	CK_SLOT_ID slots[64];
	CK_ULONG n = 64;
	must("C_GetSlotList", p11->C_GetSlotList(CK_TRUE, slots, &n));
	for (CK_ULONG i = 0; i < n; i++) {
		CK_TOKEN_INFO ti;
		must("C_GetTokenInfo", p11->C_GetTokenInfo(slots[i], &ti));
		size_t len = strlen(label);
		if (len <= sizeof ti.label && memcmp(ti.label, label, len) == 0 &&
		    (len == sizeof ti.label || ti.label[len] == ' '))
			return slots[i];
	}
	fprintf(stderr, "no token labelled %s\n", label);
	exit(2);
}

static CK_RV generate(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE *priv)
{
	static CK_BYTE p256[] = { 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07 };
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_ATTRIBUTE pubt[] = {
		{ CKA_EC_PARAMS, p256, sizeof p256 },
		{ CKA_TOKEN, &no, sizeof no },
		{ CKA_VERIFY, &yes, sizeof yes },
	};
	CK_ATTRIBUTE privt[] = {
		{ CKA_TOKEN, &no, sizeof no },
		{ CKA_SIGN, &yes, sizeof yes },
	};
	CK_MECHANISM gen = { CKM_EC_KEY_PAIR_GEN, NULL, 0 };
	CK_OBJECT_HANDLE pub;
	return p11->C_GenerateKeyPair(s, &gen, pubt, 3, privt, 2, &pub, priv);
}

static CK_RV sign(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE key)
{
	CK_MECHANISM mech = { CKM_ECDSA, NULL, 0 };
	unsigned char hash[32], sig[256];
	memset(hash, 0x33, sizeof hash);
	CK_ULONG len = sizeof sig;
	CK_RV rv = p11->C_SignInit(s, &mech, key);
	return rv != CKR_OK ? rv : p11->C_Sign(s, hash, sizeof hash, sig, &len);
}

int main(int argc, char **argv)
{
	if (argc != 5) {
		fprintf(stderr, "usage: %s MODULE LABEL PIN ROUNDS\n", argv[0]);
		return 2;
	}
	/* SIGPIPE's default action, unblocked, whatever the parent left us. */
	signal(SIGPIPE, SIG_DFL);
	sigset_t pipe_set;
	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	sigprocmask(SIG_UNBLOCK, &pipe_set, NULL);

	void *mod = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
	if (!mod) {
		fprintf(stderr, "dlopen: %s\n", dlerror());
		return 2;
	}
	CK_C_GetFunctionList get = (CK_C_GetFunctionList)dlsym(mod, "C_GetFunctionList");
	if (!get || get(&p11) != CKR_OK)
		return 2;
	CK_C_INITIALIZE_ARGS args = { .flags = CKF_OS_LOCKING_OK };
	must("C_Initialize", p11->C_Initialize(&args));
	CK_SESSION_HANDLE s;
	must("C_OpenSession", p11->C_OpenSession(find_slot(argv[2]),
						 CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s));
	must("C_Login", p11->C_Login(s, CKU_USER, (CK_UTF8CHAR *)argv[3], strlen(argv[3])));
	CK_OBJECT_HANDLE key;
	must("C_GenerateKeyPair", generate(s, &key));
	must("sign", sign(s, key));

	printf("ready\n");
	fflush(stdout);
	char line[16];
	if (!fgets(line, sizeof line, stdin))
		return 2;

	int rounds = atoi(argv[4]), ok = 0, failed = 0;
	for (int i = 0; i < rounds; i++) {
		unsigned char rnd[32];
		CK_OBJECT_HANDLE k2;
		CK_RV rvs[3] = {
			sign(s, key),
			p11->C_GenerateRandom(s, rnd, sizeof rnd),
			generate(s, &k2),
		};
		for (int j = 0; j < 3; j++)
			rvs[j] == CKR_OK ? ok++ : failed++;
		usleep(20000);
	}
	p11->C_Logout(s);
	p11->C_CloseSession(s);
	p11->C_Finalize(NULL);
	printf("done: %d calls answered CKR_OK, %d failed\n", ok, failed);
	return 0;
}
