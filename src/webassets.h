/* webassets: the dashboard's files (web/, and the chart library from node_modules), embedded in
 * the binary at build time by scripts/embed_web.sh — no Node.js, CDN or network at run time. */
#ifndef PGPULSE_WEBASSETS_H
#define PGPULSE_WEBASSETS_H

#include <stddef.h>

typedef struct webasset {
    const char *path;         /* "/index.html", "/app.js", "/vendor/uPlot.iife.min.js", ... */
    const char *content_type; /* "text/html; charset=utf-8", ... */
    const unsigned char *data;
    size_t len;
    const char *etag;         /* "\"<hex of a hash of data>\"" */
} webasset;

/* The file served at path ("/" is "/index.html"), or NULL. */
const webasset *webasset_find(const char *path);

#endif
