/* error.c - names and messages of atp_err, generated from ATP_ERROR_MAP. */
#include "atp/error.h"

const char *atp_err_name(int code)
{
    switch (code) {
#define ATP_ERR_NAME_(name, c, wire, msg)                                      \
    case c:                                                                    \
        return wire;
        ATP_ERROR_MAP(ATP_ERR_NAME_)
#undef ATP_ERR_NAME_
    }
    return "unknown_error";
}

const char *atp_err_message(int code)
{
    switch (code) {
#define ATP_ERR_MSG_(name, c, wire, msg)                                       \
    case c:                                                                    \
        return msg;
        ATP_ERROR_MAP(ATP_ERR_MSG_)
#undef ATP_ERR_MSG_
    }
    return "unknown error";
}
