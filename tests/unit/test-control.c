/*
 * The control socket server, tested from outside: each test spawns the
 * ctlserver helper (shim/control.c plus fake handlers) with its own socket
 * directory and talks to it as the CLI would.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ctlpath.h"

#ifndef CTLSERVER_PATH
#error "CTLSERVER_PATH must name the ctlserver helper"
#endif

extern char **environ;

typedef struct server {
	pid_t pid;
	int in;  /* its stdin: closing it ends the server */
	FILE *out;
	pid_t pids[2]; /* announced serving processes */
	char paths[2][256];
	int n;
} server;

static char tmp[64];
static char sockdir[128];
/* Servers of the running test, killed at teardown if an assertion cut it short. */
static pid_t spawned[8];
static size_t nspawned;

static void setup(void)
{
	snprintf(tmp, sizeof(tmp), "/tmp/tfctl-XXXXXX");
	cr_assert_not_null(mkdtemp(tmp));
	snprintf(sockdir, sizeof(sockdir), "%s/sock", tmp);
}

static void rm_tree(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	char p[512];

	if (d) {
		while ((e = readdir(d)) != NULL) {
			if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
				continue;
			snprintf(p, sizeof(p), "%s/%s", path, e->d_name);
			rm_tree(p);
		}
		closedir(d);
		rmdir(path);
	} else {
		unlink(path);
	}
}

static void teardown(void)
{
	for (size_t i = 0; i < nspawned; i++) {
		if (waitpid(spawned[i], NULL, WNOHANG) == 0) {
			kill(spawned[i], SIGKILL);
			waitpid(spawned[i], NULL, 0);
		}
	}
	nspawned = 0;
	rm_tree(tmp);
}

TestSuite(control, .init = setup, .fini = teardown, .timeout = 60);

/* Starts ctlserver with args; reads the `expect` announcement lines. */
static void spawn_server(server *s, const char *const *args, int expect)
{
	char envdir[200], *argv[16], *envp[64];
	posix_spawn_file_actions_t fa;
	int in[2], out[2], n = 0, e = 0;

	memset(s, 0, sizeof(*s));
	cr_assert_eq(pipe(in), 0);
	cr_assert_eq(pipe(out), 0);
	argv[n++] = (char *)CTLSERVER_PATH;
	for (; args && *args && n < 15; args++)
		argv[n++] = (char *)*args;
	argv[n] = NULL;
	snprintf(envdir, sizeof(envdir), "TOKENFENCE_SOCKET_DIR=%s", sockdir);
	envp[e++] = envdir;
	for (char **v = environ; *v && e < 62; v++)
		if (strncmp(*v, "TOKENFENCE_SOCKET_DIR=", 22) != 0)
			envp[e++] = *v;
	envp[e] = NULL;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in[0], 0);
	posix_spawn_file_actions_adddup2(&fa, out[1], 1);
	posix_spawn_file_actions_addclose(&fa, in[1]);
	posix_spawn_file_actions_addclose(&fa, out[0]);
	/* Nothing of the test runner's leaks into the server's fd table. */
	posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	cr_assert_eq(posix_spawn(&s->pid, CTLSERVER_PATH, &fa, NULL, argv, envp), 0);
	if (nspawned < sizeof(spawned) / sizeof(spawned[0]))
		spawned[nspawned++] = s->pid;
	posix_spawn_file_actions_destroy(&fa);
	close(in[0]);
	close(out[1]);
	s->in = in[1];
	s->out = fdopen(out[0], "r");
	for (int i = 0; i < expect; i++) {
		char line[512], *sp;
		cr_assert_not_null(fgets(line, sizeof(line), s->out), "server announced nothing");
		line[strcspn(line, "\n")] = '\0';
		sp = strchr(line, ' ');
		cr_assert_not_null(sp);
		*sp = '\0';
		s->pids[i] = (pid_t)atol(line);
		snprintf(s->paths[i], sizeof(s->paths[i]), "%s", sp + 1);
		s->n++;
	}
}

/* Ends the server the polite way and returns its wait status. */
static int stop_server(server *s)
{
	int status = 0;

	close(s->in);
	fclose(s->out);
	cr_assert_eq(waitpid(s->pid, &status, 0), s->pid);
	return status;
}

static void expect_clean_exit(server *s)
{
	int status = stop_server(s);

	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		  "server did not exit cleanly: status 0x%x (signal %d)", status,
		  WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

static int connect_to(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { 10, 0 };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	cr_assert_geq(fd, 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0, "connect %s: %s", path,
		     strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

static void send_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		cr_assert_gt(w, 0, "send: %s", strerror(errno));
		p += w;
		n -= (size_t)w;
	}
}

/* Reads one answer line (without the newline) into a malloc'd string; NULL at EOF. */
static char *read_line(int fd)
{
	size_t len = 0, cap = 256;
	char *s = malloc(cap);

	for (;;) {
		char c;
		ssize_t n = recv(fd, &c, 1, 0);
		if (n <= 0) {
			if (len == 0) {
				free(s);
				return NULL;
			}
			break;
		}
		if (c == '\n')
			break;
		if (len + 2 > cap)
			s = realloc(s, cap *= 2);
		s[len++] = c;
	}
	s[len] = '\0';
	return s;
}

static char *ask(int fd, const char *line)
{
	send_all(fd, line, strlen(line));
	return read_line(fd);
}

static void expect_answer(int fd, const char *line, const char *want_sub)
{
	char *a = ask(fd, line);

	cr_assert_not_null(a, "no answer to %s", line);
	cr_expect(strstr(a, want_sub) != NULL, "answer to %s: %s (want %s)", line, a, want_sub);
	free(a);
}

static void expect_closed(int fd)
{
	char c;
	ssize_t n = recv(fd, &c, 1, 0);

	cr_expect(n == 0 || (n < 0 && errno == ECONNRESET), "connection still open (%zd)", n);
}

Test(control, ping_help_and_errors)
{
	char want[64];
	server s;
	int fd;

	spawn_server(&s, NULL, 1);
	cr_assert_str_neq(s.paths[0], "");
	fd = connect_to(s.paths[0]);
	snprintf(want, sizeof(want), "{\"ok\":true,\"pid\":%ld,\"exe\":\"ctlserver\",\"uptime_s\":",
		 (long)s.pids[0]);
	expect_answer(fd, "{\"cmd\":\"ping\"}\n", want);
	expect_answer(fd, "{\"cmd\":\"help\"}\n",
		      "\"commands\":[\"ping\",\"help\",\"status\",\"kill\",\"resume\"");
	expect_answer(fd, "{\"cmd\":\"nope\"}\n",
		      "{\"ok\":false,\"error\":\"unknown command \\\"nope\\\" (\\\"help\\\" lists them)\"}");
	expect_answer(fd, "garbage{\n", "{\"ok\":false,\"error\":\"bad request: column 1:");
	expect_answer(fd, "[1,2]\n", "a request is a JSON object with a \\\"cmd\\\" string");
	expect_answer(fd, "{\"cmd\":7}\n", "a request is a JSON object");
	expect_answer(fd, "{\"cmd\":\"fail\"}\n", "{\"ok\":false,\"error\":\"failing on purpose\"}");
	expect_answer(fd, "{\"cmd\":\"kill\",\"scope\":\"s1\"}\n",
		      "{\"ok\":true,\"scope\":\"s1\",\"killed\":true}");
	/* Blank lines are skipped, CRLF is accepted, and the connection lives on. */
	expect_answer(fd, "\n \r\n{\"cmd\":\"ping\"}\r\n", "\"ok\":true");
	close(fd);
	expect_clean_exit(&s);
}

Test(control, pipelined_and_byte_by_byte)
{
	const char *req = "{\"cmd\":\"echo\",\"x\":1}\n{\"cmd\":\"ping\"}\n{\"cmd\":\"echo\",\"x\":2}\n";
	server s;
	char *a;
	int fd;

	spawn_server(&s, NULL, 1);
	fd = connect_to(s.paths[0]);
	send_all(fd, req, strlen(req));
	a = read_line(fd);
	cr_expect_str_eq(a, "{\"ok\":true,\"req\":{\"cmd\":\"echo\",\"x\":1}}");
	free(a);
	a = read_line(fd);
	cr_expect(strstr(a, "\"pid\"") != NULL);
	free(a);
	a = read_line(fd);
	cr_expect_str_eq(a, "{\"ok\":true,\"req\":{\"cmd\":\"echo\",\"x\":2}}");
	free(a);
	for (const char *p = "{\"cmd\":\"echo\",\"y\":\"z\"}\n"; *p; p++) {
		send_all(fd, p, 1);
		usleep(1000);
	}
	a = read_line(fd);
	cr_expect_str_eq(a, "{\"ok\":true,\"req\":{\"cmd\":\"echo\",\"y\":\"z\"}}");
	free(a);
	/* A last request without its newline is served at end of input. */
	send_all(fd, "{\"cmd\":\"echo\",\"last\":true}", 26);
	shutdown(fd, SHUT_WR);
	a = read_line(fd);
	cr_expect_str_eq(a, "{\"ok\":true,\"req\":{\"cmd\":\"echo\",\"last\":true}}");
	free(a);
	expect_closed(fd);
	close(fd);
	expect_clean_exit(&s);
}

Test(control, line_length_cap)
{
	size_t limit = 64 << 10;
	char *line = malloc(limit + 100);
	server s;
	char *a;
	int fd;

	spawn_server(&s, NULL, 1);
	/* Exactly at the limit: served. */
	fd = connect_to(s.paths[0]);
	strcpy(line, "{\"cmd\":\"echo\",\"pad\":\"");
	memset(line + strlen(line), 'p', limit - strlen(line) - 2);
	memcpy(line + limit - 2, "\"}\n", 4);
	cr_assert_eq(strlen(line), limit + 1);
	a = ask(fd, line);
	cr_assert_not_null(a);
	cr_expect(strncmp(a, "{\"ok\":true,\"req\":", 17) == 0, "%.80s", a);
	free(a);
	/* One byte over, without a newline in sight: refused and closed. */
	memset(line, 'x', limit + 1);
	line[limit + 1] = '\0';
	a = ask(fd, line);
	cr_assert_not_null(a);
	cr_expect_str_eq(a, "{\"ok\":false,\"error\":\"request line too long (the limit is 65536 "
			    "bytes)\"}");
	free(a);
	expect_closed(fd);
	close(fd);
	/* Over the limit with the newline inside the same write: refused too. */
	fd = connect_to(s.paths[0]);
	memset(line, ' ', limit + 50);
	line[limit + 50] = '\n';
	line[limit + 51] = '\0';
	a = ask(fd, line);
	cr_expect(a && strstr(a, "too long"), "%s", a ? a : "(eof)");
	free(a);
	close(fd);
	free(line);
	expect_clean_exit(&s);
}

Test(control, dropped_clients_never_hurt_the_host)
{
	server s;
	int fd;

	spawn_server(&s, NULL, 1);
	for (int i = 0; i < 20; i++) {
		char c[16];
		fd = connect_to(s.paths[0]);
		/* 1 MiB answers, far past the socket buffer: the server is
		 * mid-send when we hang up. */
		const char *req = "{\"cmd\":\"big\",\"n\":1048576}\n{\"cmd\":\"big\"}\n";
		send_all(fd, req, strlen(req));
		if (i % 2)
			cr_assert_gt(recv(fd, c, sizeof(c), 0), 0);
		close(fd);
	}
	/* A client that never reads does not stall anyone else. */
	int stuck = connect_to(s.paths[0]);
	send_all(stuck, "{\"cmd\":\"big\"}\n{\"cmd\":\"big\"}\n{\"cmd\":\"big\"}\n", 42);
	fd = connect_to(s.paths[0]);
	expect_answer(fd, "{\"cmd\":\"ping\"}\n", "\"ok\":true");
	close(fd);
	close(stuck);
	cr_assert_eq(waitpid(s.pid, NULL, WNOHANG), 0, "server died");
	expect_clean_exit(&s);
}

Test(control, several_clients_at_once)
{
	int fds[12];
	server s;

	spawn_server(&s, NULL, 1);
	for (int i = 0; i < 12; i++) {
		fds[i] = connect_to(s.paths[0]);
		send_all(fds[i], "{\"cmd\":", 7); /* half a request each */
	}
	for (int i = 12; i-- > 0;) {
		char want[48];
		snprintf(want, sizeof(want), "\"x\":%d", i);
		char line[64];
		snprintf(line, sizeof(line), "\"echo\",\"x\":%d}\n", i);
		expect_answer(fds[i], line, want);
	}
	for (int i = 0; i < 12; i++)
		close(fds[i]);
	expect_clean_exit(&s);
}

Test(control, directory_and_socket_modes_fds_and_cleanup_at_exit)
{
	struct stat st;
	char fdpath[64], link[200];
	int high = 0, low_sockets = 0;
	server s;
	DIR *d;
	struct dirent *e;

	spawn_server(&s, NULL, 1);
	cr_assert_eq(lstat(sockdir, &st), 0);
	cr_expect(S_ISDIR(st.st_mode));
	cr_expect_eq(st.st_mode & 07777, 0700, "dir mode %o", st.st_mode & 07777);
	cr_expect_eq(st.st_uid, geteuid());
	cr_assert_eq(lstat(s.paths[0], &st), 0);
	cr_expect(S_ISSOCK(st.st_mode));
	cr_expect_eq(st.st_mode & 07777, 0600, "socket mode %o", st.st_mode & 07777);
	snprintf(link, sizeof(link), "%s/%ld.sock", sockdir, (long)s.pids[0]);
	cr_expect_str_eq(s.paths[0], link);
	/* Our descriptors live at 200 and above; nothing of ours below. */
	snprintf(fdpath, sizeof(fdpath), "/proc/%ld/fd", (long)s.pids[0]);
	d = opendir(fdpath);
	cr_assert_not_null(d);
	while ((e = readdir(d)) != NULL) {
		int fd = atoi(e->d_name);
		char p[600];
		ssize_t n;
		if (e->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s", fdpath, e->d_name);
		n = readlink(p, link, sizeof(link) - 1);
		link[n > 0 ? n : 0] = '\0';
		if (fd >= 200)
			high++;
		else if (fd > 2 && (strncmp(link, "socket:", 7) == 0 || strncmp(link, "pipe:", 5) == 0))
			low_sockets++;
	}
	closedir(d);
	cr_expect_geq(high, 3, "listening socket and wake pipe above 200");
	cr_expect_eq(low_sockets, 0);
	expect_clean_exit(&s);
	cr_expect_neq(lstat(s.paths[0], &st), 0, "socket left behind after exit");
}

Test(control, refuses_a_directory_open_to_others)
{
	struct stat st;
	char path[160];
	server s;

	cr_assert_eq(mkdir(sockdir, 0700), 0);
	chmod(sockdir, 0755);
	spawn_server(&s, NULL, 1);
	cr_expect_str_eq(s.paths[0], "");
	snprintf(path, sizeof(path), "%s/%ld.sock", sockdir, (long)s.pids[0]);
	cr_expect_neq(lstat(path, &st), 0);
	expect_clean_exit(&s);
}

static void make_socket_file(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0, "%s", strerror(errno));
	close(fd);
}

Test(control, removes_stale_sockets_of_dead_processes)
{
	char dead[160], live[160], other[160];
	struct stat st;
	pid_t gone = fork();
	server s;

	if (gone == 0)
		_exit(0);
	waitpid(gone, NULL, 0);
	cr_assert_eq(mkdir(sockdir, 0700), 0);
	snprintf(dead, sizeof(dead), "%s/%ld.sock", sockdir, (long)gone);
	snprintf(live, sizeof(live), "%s/%ld.sock", sockdir, (long)getppid());
	snprintf(other, sizeof(other), "%s/notes.txt", sockdir);
	make_socket_file(dead);
	make_socket_file(live);
	close(open(other, O_CREAT | O_WRONLY, 0600));
	spawn_server(&s, NULL, 1);
	for (int i = 0; i < 200 && lstat(dead, &st) == 0; i++)
		usleep(10000);
	cr_expect_neq(lstat(dead, &st), 0, "stale socket of a dead pid kept");
	cr_expect_eq(lstat(live, &st), 0, "socket of a live process removed");
	cr_expect_eq(lstat(other, &st), 0, "a file that is not a socket removed");
	expect_clean_exit(&s);
}

Test(control, forked_child_serves_under_its_own_pid)
{
	const char *args[] = { "--fork", NULL };
	struct stat st;
	char want[64];
	server s;

	spawn_server(&s, args, 2);
	cr_assert_neq(s.pids[0], s.pids[1]);
	cr_assert_str_neq(s.paths[0], "");
	cr_assert_str_neq(s.paths[1], "");
	cr_assert_str_neq(s.paths[0], s.paths[1]);
	for (int i = 0; i < 2; i++) {
		int fd = connect_to(s.paths[i]);
		snprintf(want, sizeof(want), "\"pid\":%ld,", (long)s.pids[i]);
		expect_answer(fd, "{\"cmd\":\"ping\"}\n", want);
		close(fd);
	}
	expect_clean_exit(&s);
	cr_expect_neq(lstat(s.paths[0], &st), 0);
	cr_expect_neq(lstat(s.paths[1], &st), 0);
}

Test(control, another_uid_is_refused)
{
	const char *args[] = { "--uid", "65534", NULL };
	server s;
	int fd;

	if (geteuid() != 0)
		cr_skip_test("needs root to run the server as nobody");
	chmod(tmp, 01777); /* nobody creates its socket directory in here */
	spawn_server(&s, args, 1);
	cr_assert_str_neq(s.paths[0], "", "server as nobody did not start");
	/* Root passes the 0700 directory; SO_PEERCRED still says no. */
	fd = connect_to(s.paths[0]);
	expect_answer(fd, "{\"cmd\":\"ping\"}\n",
		      "{\"ok\":false,\"error\":\"permission denied: uid 0 does not own this process\"}");
	expect_closed(fd);
	close(fd);
	expect_clean_exit(&s);
}

/* ---- ctlpath: the rules the CLI shares ---------------------------------- */

static const char *env_sock, *env_xdg;

static const char *fake_env(const char *name)
{
	if (strcmp(name, "TOKENFENCE_SOCKET_DIR") == 0)
		return env_sock;
	if (strcmp(name, "XDG_RUNTIME_DIR") == 0)
		return env_xdg;
	return NULL;
}

Test(ctlpath, directory_choice)
{
	char out[128], why[128];

	env_sock = NULL;
	env_xdg = NULL;
	cr_expect_eq(tf_ctlpath_dir(fake_env, 1000, out, sizeof(out), why, sizeof(why)), 20);
	cr_expect_str_eq(out, "/tmp/tokenfence-1000");
	env_xdg = "/run/user/1000";
	tf_ctlpath_dir(fake_env, 1000, out, sizeof(out), why, sizeof(why));
	cr_expect_str_eq(out, "/run/user/1000/tokenfence");
	env_sock = "/srv/tf//";
	tf_ctlpath_dir(fake_env, 1000, out, sizeof(out), why, sizeof(why));
	cr_expect_str_eq(out, "/srv/tf");
	env_sock = "";
	tf_ctlpath_dir(fake_env, 1000, out, sizeof(out), why, sizeof(why));
	cr_expect_str_eq(out, "/run/user/1000/tokenfence");
	env_sock = "rel/dir";
	cr_expect_eq(tf_ctlpath_dir(fake_env, 1000, out, sizeof(out), why, sizeof(why)), -EINVAL);
	cr_expect_str_eq(why, "TOKENFENCE_SOCKET_DIR: not an absolute path");
	env_sock = "/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
	cr_expect_eq(tf_ctlpath_dir(fake_env, 1000, out, sizeof(out), why, sizeof(why)),
		     -ENAMETOOLONG);
}

Test(ctlpath, names_and_checks)
{
	struct stat st = { .st_mode = S_IFDIR | 0700, .st_uid = 1000 };
	char out[128], why[128];

	cr_expect_eq(tf_ctlpath_pid("1234.sock"), 1234);
	cr_expect_eq(tf_ctlpath_pid("0.sock"), 0);
	cr_expect_eq(tf_ctlpath_pid("01.sock"), 0);
	cr_expect_eq(tf_ctlpath_pid("12.sockx"), 0);
	cr_expect_eq(tf_ctlpath_pid("x.sock"), 0);
	cr_expect_eq(tf_ctlpath_pid("99999999999.sock"), 0);
	cr_expect_eq(tf_ctlpath_socket("/d", 42, out, sizeof(out)), 10);
	cr_expect_str_eq(out, "/d/42.sock");
	cr_expect_eq(tf_ctlpath_check_dir(&st, 1000, why, sizeof(why)), 0);
	cr_expect_eq(tf_ctlpath_check_dir(&st, 1001, why, sizeof(why)), -EPERM);
	cr_expect_str_eq(why, "owned by uid 1000, not by us");
	st.st_mode = S_IFDIR | 0750;
	cr_expect_eq(tf_ctlpath_check_dir(&st, 1000, why, sizeof(why)), -EACCES);
	cr_expect_str_eq(why, "mode 0750 is open to others (want 0700)");
	st.st_mode = S_IFLNK | 0777;
	cr_expect_eq(tf_ctlpath_check_dir(&st, 1000, why, sizeof(why)), -ENOTDIR);
}

Test(ctlpath, staleness)
{
	cr_expect(tf_ctlpath_stale(false, -1, 0));
	cr_expect_not(tf_ctlpath_stale(true, 60000, 1000));    /* process older than its file */
	cr_expect(tf_ctlpath_stale(true, 1000, 60000));        /* pid reused by a newer process */
	cr_expect_not(tf_ctlpath_stale(true, 1000, 2500));     /* within the clock slack */
	cr_expect_not(tf_ctlpath_stale(true, -1, 60000));      /* unknown age: keep */
	cr_expect_gt(tf_ctlpath_process_age_ms(getpid()), -1);
	cr_expect_eq(tf_ctlpath_process_age_ms(0x7ffffff0), -1);
}
