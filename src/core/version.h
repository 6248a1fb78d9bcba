/* version: the program version, one place. */
#ifndef CG_CORE_VERSION_H
#define CG_CORE_VERSION_H
#define CG_VERSION "0.1.0"
#endif
