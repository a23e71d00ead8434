/*
 * kubelab's pause: the process that holds a pod sandbox's namespaces open.
 * Written for kubelab after the behaviour of Kubernetes' build/pause/linux/pause.c:
 * sleep until SIGINT or SIGTERM, reap any child that is re-parented to us (PID 1
 * in a pod that shares its PID namespace), and exit 0 on a stop signal.
 * Build: gcc -static -Os -o pause pause.c
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define VERSION "kubelab-3.10"

static void on_stop(int sig) {
    static const char msg[] = "pause: stop signal received, exiting\n";
    (void)sig;
    (void)!write(STDERR_FILENO, msg, sizeof msg - 1);
    _exit(0);
}

static void on_child(int sig) {
    int saved = errno;
    (void)sig;
    /* Reap every zombie that has accumulated; never block. */
    while (waitpid(-1, NULL, WNOHANG) > 0) {
    }
    errno = saved;
}

static int install(int sig, void (*handler)(int), int flags) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = handler;
    sa.sa_flags = flags;
    sigemptyset(&sa.sa_mask);
    return sigaction(sig, &sa, NULL);
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "-v") == 0) {
        printf("pause.c %s\n", VERSION);
        return 0;
    }
    if (getpid() != 1) {
        /* Still useful outside a sandbox (e.g. tests), but say so. */
        fprintf(stderr, "pause: warning: not running as PID 1\n");
    }
    if (install(SIGINT, on_stop, 0) < 0 || install(SIGTERM, on_stop, 0) < 0 ||
        install(SIGCHLD, on_child, SA_NOCLDSTOP | SA_RESTART) < 0) {
        perror("pause: sigaction");
        return 1;
    }
    for (;;) {
        pause();
    }
    fprintf(stderr, "pause: unreachable\n");
    return 42;
}
