#ifndef OTEL_BRIDGE_CCURL_SHIM_H
#define OTEL_BRIDGE_CCURL_SHIM_H

// libcurl (and zlib, which libcurl itself links, for gzip request bodies) behind typed helpers.
// curl_easy_setopt/curl_easy_getinfo are variadic and cannot be called from Swift; each helper
// below fixes one argument type so the compiler checks what we pass.

#include <curl/curl.h>
#include <zlib.h>
#include <string.h>

typedef size_t (*otb_curl_data_callback)(char *data, size_t size, size_t nmemb, void *userdata);

static inline CURLcode otb_curl_setopt_long(CURL *h, CURLoption o, long v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode otb_curl_setopt_string(CURL *h, CURLoption o, const char *v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode otb_curl_setopt_pointer(CURL *h, CURLoption o, void *v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode otb_curl_setopt_slist(CURL *h, CURLoption o, struct curl_slist *v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode otb_curl_setopt_offset(CURL *h, CURLoption o, curl_off_t v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode otb_curl_setopt_data_callback(CURL *h, CURLoption o, otb_curl_data_callback f) { return curl_easy_setopt(h, o, f); }

typedef int (*otb_curl_seek_callback)(void *userdata, curl_off_t offset, int origin);
static inline CURLcode otb_curl_setopt_seek_callback(CURL *h, CURLoption o, otb_curl_seek_callback f) { return curl_easy_setopt(h, o, f); }

static inline size_t otb_curl_writefunc_pause(void) { return CURL_WRITEFUNC_PAUSE; }
static inline int otb_curl_seekfunc_ok(void) { return CURL_SEEKFUNC_OK; }
static inline int otb_curl_seekfunc_cantseek(void) { return CURL_SEEKFUNC_CANTSEEK; }
static inline int otb_curl_pause_continue(void) { return CURLPAUSE_CONT; }

/// gzip-compresses `input` into `output` (capacity `*output_len`, updated to the bytes written).
/// Returns Z_OK, or a zlib error code (Z_BUF_ERROR when `output` is too small).
static inline int otb_gzip(const unsigned char *input, size_t input_len,
                           unsigned char *output, size_t *output_len, int level) {
    z_stream s;
    memset(&s, 0, sizeof(s));
    // windowBits 15 + 16 selects the gzip wrapper.
    int rc = deflateInit2(&s, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
    if (rc != Z_OK) return rc;
    s.next_in = (Bytef *)input;
    s.avail_in = (uInt)input_len;
    s.next_out = output;
    s.avail_out = (uInt)*output_len;
    rc = deflate(&s, Z_FINISH);
    *output_len = s.total_out;
    deflateEnd(&s);
    return rc == Z_STREAM_END ? Z_OK : (rc == Z_OK ? Z_BUF_ERROR : rc);
}

static inline size_t otb_gzip_bound(size_t input_len) {
    // deflateBound for the zlib wrapper plus the larger gzip header/trailer.
    return compressBound((uLong)input_len) + 32;
}

#endif
