/* Run as a Dockerfile RUN step: writes the namespaces it runs in and its network interfaces.
 * With the argument "sleep": sleeps a minute (a build to interrupt). */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "sleep") == 0) {
        sleep(60);
        return 0;
    }
    const char *names[] = {"pid", "net", "mnt", "ipc", "uts"};
    FILE *out = fopen("/ns.txt", "w");
    char path[64], link[128];
    if (out == NULL) return 1;
    for (unsigned i = 0; i < sizeof names / sizeof *names; i++) {
        snprintf(path, sizeof path, "/proc/self/ns/%s", names[i]);
        ssize_t n = readlink(path, link, sizeof link - 1);
        if (n < 0) return 2;
        link[n] = '\0';
        fprintf(out, "%s %s\n", names[i], link);
    }
    FILE *dev = fopen("/proc/net/dev", "r");
    if (dev == NULL) return 3;
    int c;
    while ((c = fgetc(dev)) != EOF) fputc(c, out);
    fclose(dev);
    return fclose(out) == 0 ? 0 : 4;
}
