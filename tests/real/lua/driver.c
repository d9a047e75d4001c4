/*
 * driver.c - a minimal stand-alone Lua interpreter for rtdyld's real-program
 * test (tests/real/lua.sh).
 *
 * The lua-src crate ships Lua's library sources but not lua.c, so this file
 * provides main():
 *
 *     driver SCRIPT.lua [ARGS...]
 *
 * opens the standard libraries, sets the global `arg` (arg[0] = SCRIPT,
 * arg[1..] = ARGS), runs SCRIPT with ARGS as its varargs and exits with 0 on
 * success, or prints "lua: MESSAGE" plus a traceback to stderr and exits
 * with 1. argv[0] is never shown to the script, so the output does not depend
 * on how the program was started (as an executable or through `rtdyld run`).
 */
#include <stdio.h>
#include <stdlib.h>

#include "lua.h"
#include "lauxlib.h"
#include "lualib.h"

static int msghandler(lua_State *L)
{
    const char *msg = lua_tostring(L, 1);
    if (msg == NULL) {
        if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
            return 1;
        msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    }
    luaL_traceback(L, L, msg, 1);
    return 1;
}

static void report(lua_State *L)
{
    const char *msg = lua_tostring(L, -1);
    fprintf(stderr, "lua: %s\n", msg ? msg : "(error object is not a string)");
    fflush(stderr);
    lua_pop(L, 1);
}

static int pmain(lua_State *L)
{
    int argc = (int)lua_tointeger(L, 1);
    char **argv = (char **)lua_touserdata(L, 2);
    int i, base, status;

    luaL_checkversion(L);
    luaL_openlibs(L);

    lua_createtable(L, argc, 1);
    for (i = 1; i < argc; i++) {
        lua_pushstring(L, argv[i]);
        lua_rawseti(L, -2, i - 1);
    }
    lua_setglobal(L, "arg");

    lua_pushcfunction(L, msghandler);
    base = lua_gettop(L);
    status = luaL_loadfile(L, argv[1]);
    if (status == LUA_OK) {
        luaL_checkstack(L, argc, "too many arguments to script");
        for (i = 2; i < argc; i++)
            lua_pushstring(L, argv[i]);
        status = lua_pcall(L, argc - 2, 0, base);
    }
    if (status != LUA_OK) {
        report(L);
        lua_pushboolean(L, 0);
        return 1;
    }
    lua_pushboolean(L, 1);
    return 1;
}

int main(int argc, char **argv)
{
    lua_State *L;
    int status, ok;

    if (argc < 2) {
        fprintf(stderr, "usage: %s SCRIPT.lua [ARGS...]\n", argv[0]);
        return 2;
    }
    L = luaL_newstate();
    if (L == NULL) {
        fprintf(stderr, "lua: cannot create state: not enough memory\n");
        return 1;
    }
    lua_pushcfunction(L, pmain);
    lua_pushinteger(L, argc);
    lua_pushlightuserdata(L, argv);
    status = lua_pcall(L, 2, 1, 0);
    ok = lua_toboolean(L, -1);
    if (status != LUA_OK)
        report(L);
    lua_close(L);
    fflush(stdout);
    return (status == LUA_OK && ok) ? EXIT_SUCCESS : EXIT_FAILURE;
}
