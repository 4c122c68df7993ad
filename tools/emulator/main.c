/* tokenfence-emulator: see README.md beside this file, or --help. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "emu.h"
#include "server.h"
#include "tls.h"

static int stop_pipe[2] = {-1, -1};

static void on_signal(int sig)
{
	int saved = errno;
	char c = (char)sig;

	if (write(stop_pipe[1], &c, 1) < 0) {
		/* the pipe is full: a stop is already pending */
	}
	errno = saved;
}

static int write_port_file(const char *path, int port)
{
	char tmp[4096];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
	f = fopen(tmp, "w");
	if (!f)
		return -1;
	fprintf(f, "%d\n", port);
	if (fclose(f) != 0 || rename(tmp, path) != 0) {
		unlink(tmp);
		return -1;
	}
	return 0;
}

static int listen_loopback(int port, int *bound)
{
	struct sockaddr_in a;
	socklen_t al = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(fd, 128) != 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &al) != 0) {
		close(fd);
		return -1;
	}
	*bound = ntohs(a.sin_port);
	return fd;
}

int main(int argc, char **argv)
{
	emu_config cfg;
	struct sigaction sa;
	SSL_CTX *ctx;
	char err[512];
	int r = emu_config_parse(&cfg, argc, argv), fd, port = 0, left;

	if (r != 0) {
		emu_config_free(&cfg);
		return r > 0 ? 0 : 2;
	}
	signal(SIGPIPE, SIG_IGN);
	if (pipe2(stop_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
		perror("tokenfence-emulator: pipe");
		return 1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	ctx = emu_tls_ctx(&cfg, err, sizeof(err));
	if (!ctx) {
		fprintf(stderr, "tokenfence-emulator: %s\n", err);
		emu_config_free(&cfg);
		return 1;
	}
	if (cfg.bill && emu_bill_open(cfg.bill) != 0) {
		fprintf(stderr, "tokenfence-emulator: cannot open bill %s: %s\n", cfg.bill, strerror(errno));
		SSL_CTX_free(ctx);
		emu_config_free(&cfg);
		return 1;
	}
	fd = listen_loopback(cfg.port, &port);
	if (fd < 0) {
		fprintf(stderr, "tokenfence-emulator: cannot listen on 127.0.0.1:%d: %s\n", cfg.port,
			strerror(errno));
		emu_bill_close();
		SSL_CTX_free(ctx);
		emu_config_free(&cfg);
		return 1;
	}
	if (cfg.port_file && write_port_file(cfg.port_file, port) != 0) {
		fprintf(stderr, "tokenfence-emulator: cannot write %s\n", cfg.port_file);
		close(fd);
		emu_bill_close();
		SSL_CTX_free(ctx);
		emu_config_free(&cfg);
		return 1;
	}
	emu_state_init();
	printf("tokenfence-emulator: listening on 127.0.0.1:%d\n", port);
	fflush(stdout);

	left = emu_serve(&cfg, ctx, fd, stop_pipe[0], 3000);

	close(fd);
	emu_bill_close();
	if (!cfg.quiet)
		fprintf(stderr, "tokenfence-emulator: stopped\n");
	/* Connection threads still finishing a write use these: free them only
	 * when none is left (the process is exiting anyway). */
	if (left == 0) {
		emu_state_free();
		emu_prices_free();
		SSL_CTX_free(ctx);
		emu_config_free(&cfg);
	}
	return 0;
}
