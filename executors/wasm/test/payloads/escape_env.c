/* Asks for a host function that is not part of the ABI (would-be `system`). */
int system(const char *cmd);
int entrypoint(int argc, char *argv[]) { return system("cat /etc/passwd"); }
