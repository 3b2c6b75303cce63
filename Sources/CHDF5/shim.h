// HDF5 for ann-benchmarks' dataset files (train/test/neighbors and a `distance` attribute).
// HDF5's type and flag names are macros Swift cannot import; these wrappers are what the
// benchmark reader and its tests call. Every function returns a negative value on failure.
#include <hdf5.h>
#include <stdlib.h>
#include <string.h>

/// Opens `path` read-only (or creates it, truncating, when `create` is non-zero), with
/// HDF5's error printing off: the caller reports failures itself.
///
/// The library's shutdown at process exit is turned off (`H5dont_atexit`, before its first
/// use): after libhdf5 1.10 has refused a malformed file, its ID registry can keep entries
/// its shutdown never converges on, and it prints "HDF5: infinite loop closing library" at
/// exit (HDFGroup/hdf5#3790, #6677). Every file Engram opens is closed explicitly, so the
/// shutdown has nothing to flush; the process's memory goes with it.
static inline hid_t engram_h5_open(const char *path, int create) {
    static int atexitOff = 0;
    if (!atexitOff) { H5dont_atexit(); atexitOff = 1; }
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    return create ? H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT) : H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
}

static inline void engram_h5_close(hid_t file) { H5Fclose(file); }

/// Whether the file has a link (dataset) named `name`: 1, 0, or negative.
static inline int engram_h5_has(hid_t file, const char *name) { return (int)H5Lexists(file, name, H5P_DEFAULT); }

/// The rank of dataset `name`, and its first two extents in `dims` (which must hold 2).
static inline int engram_h5_shape(hid_t file, const char *name, unsigned long long *dims) {
    hid_t d = H5Dopen2(file, name, H5P_DEFAULT);
    if (d < 0) return -1;
    hid_t s = H5Dget_space(d);
    int rank = s < 0 ? -1 : H5Sget_simple_extent_ndims(s);
    if (rank >= 1 && rank <= 2) {
        hsize_t ext[2] = {0, 1};
        H5Sget_simple_extent_dims(s, ext, NULL);
        dims[0] = ext[0];
        dims[1] = rank == 2 ? ext[1] : 1;
    }
    if (s >= 0) H5Sclose(s);
    H5Dclose(d);
    return rank;
}

/// The bytes dataset `name` occupies in the file (compressed, if it is), or negative.
static inline long long engram_h5_storage_size(hid_t file, const char *name) {
    hid_t d = H5Dopen2(file, name, H5P_DEFAULT);
    if (d < 0) return -1;
    long long n = (long long)H5Dget_storage_size(d);
    H5Dclose(d);
    return n;
}

/// Reads all of dataset `name`, converted to float (`asFloat`) or int, into `out`.
static inline int engram_h5_read(hid_t file, const char *name, int asFloat, void *out) {
    hid_t d = H5Dopen2(file, name, H5P_DEFAULT);
    if (d < 0) return -1;
    herr_t r = H5Dread(d, asFloat ? H5T_NATIVE_FLOAT : H5T_NATIVE_INT, H5S_ALL, H5S_ALL, H5P_DEFAULT, out);
    H5Dclose(d);
    return r < 0 ? -1 : 0;
}

/// Copies the root's string attribute `name` (fixed or variable length) into `buf`.
static inline int engram_h5_string_attribute(hid_t file, const char *name, char *buf, size_t cap) {
    if (cap == 0 || H5Aexists(file, name) <= 0) return -1;
    hid_t a = H5Aopen(file, name, H5P_DEFAULT);
    if (a < 0) return -1;
    hid_t t = H5Aget_type(a);
    int ok = -1;
    if (t >= 0 && H5Tget_class(t) == H5T_STRING) {
        hid_t m = H5Tcopy(H5T_C_S1);
        H5Tset_cset(m, H5Tget_cset(t)); /* h5py writes UTF-8; libhdf5 will not convert it to ASCII */
        if (H5Tis_variable_str(t) > 0) {
            char *s = NULL;
            H5Tset_size(m, H5T_VARIABLE);
            if (H5Aread(a, m, &s) >= 0 && s) {
                strncpy(buf, s, cap - 1); buf[cap - 1] = 0; ok = 0;
                H5free_memory(s);
            }
        } else {
            size_t n = H5Tget_size(t);
            char *s = calloc(n + 1, 1);
            H5Tset_size(m, n + 1);
            if (s && H5Aread(a, m, s) >= 0) { strncpy(buf, s, cap - 1); buf[cap - 1] = 0; ok = 0; }
            free(s);
        }
        H5Tclose(m);
    }
    if (t >= 0) H5Tclose(t);
    H5Aclose(a);
    return ok;
}

/// Writes a rows × cols float (`isFloat`) or int dataset: for tests that make dataset files.
static inline int engram_h5_write(hid_t file, const char *name, unsigned long long rows, unsigned long long cols, int isFloat, const void *data) {
    hsize_t dims[2] = {rows, cols};
    hid_t s = H5Screate_simple(2, dims, NULL);
    hid_t type = isFloat ? H5T_NATIVE_FLOAT : H5T_NATIVE_INT;
    hid_t d = H5Dcreate2(file, name, type, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    herr_t r = d < 0 ? -1 : H5Dwrite(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data);
    if (d >= 0) H5Dclose(d);
    H5Sclose(s);
    return r < 0 ? -1 : 0;
}

/// Sets a variable-length UTF-8 string attribute on the root, as h5py does.
static inline int engram_h5_set_string_attribute(hid_t file, const char *name, const char *value) {
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    hid_t s = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(file, name, t, s, H5P_DEFAULT, H5P_DEFAULT);
    herr_t r = a < 0 ? -1 : H5Awrite(a, t, &value);
    if (a >= 0) H5Aclose(a);
    H5Sclose(s);
    H5Tclose(t);
    return r < 0 ? -1 : 0;
}
