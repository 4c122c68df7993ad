/*
 * Runs a libFuzzer harness over files without libFuzzer, so the seed corpus
 * (and every crash once fixed and added to it) is replayed by `meson test`
 * under the normal sanitizer build. Arguments: files or directories (their
 * regular files, in name order). A harness reports a broken invariant by
 * aborting, which fails the test.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *data;
	long len;

	if (!f) {
		perror(path);
		return -1;
	}
	if (fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
		fclose(f);
		return -1;
	}
	/* Exactly len bytes, so ASan catches a harness reading past the input. */
	data = malloc(len ? (size_t)len : 1);
	if (!data || fread(data, 1, (size_t)len, f) != (size_t)len) {
		free(data);
		fclose(f);
		return -1;
	}
	fclose(f);
	LLVMFuzzerTestOneInput(data, (size_t)len);
	free(data);
	return 0;
}

static int name_cmp(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

int main(int argc, char **argv)
{
	int files = 0, i;

	for (i = 1; i < argc; i++) {
		struct stat st;
		struct dirent **list;
		int n, k;

		if (stat(argv[i], &st) != 0) {
			perror(argv[i]);
			return 1;
		}
		if (!S_ISDIR(st.st_mode)) {
			if (run_file(argv[i]) != 0)
				return 1;
			files++;
			continue;
		}
		n = scandir(argv[i], &list, NULL, name_cmp);
		if (n < 0) {
			perror(argv[i]);
			return 1;
		}
		for (k = 0; k < n; k++) {
			char path[4096];
			struct stat fst;

			snprintf(path, sizeof(path), "%s/%s", argv[i], list[k]->d_name);
			if (stat(path, &fst) == 0 && S_ISREG(fst.st_mode)) {
				if (run_file(path) != 0)
					return 1;
				files++;
			}
			free(list[k]);
		}
		free(list);
	}
	printf("replayed %d inputs\n", files);
	return files > 0 ? 0 : 1;
}
