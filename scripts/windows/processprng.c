/* For the Wine prefix of scripts/test-windows only, never shipped. Rust's std (1.96) imports
 * ProcessPrng from bcryptprimitives.dll, which every Windows 10 or later has and Wine 8 lacks:
 * without it every Rust program fails to start under Wine. This stand-in fills the buffer with
 * RtlGenRandom (advapi32's SystemFunction036), as ProcessPrng does on Windows. */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length) {
    while (length > 0) {
        ULONG chunk = length > 0x10000000 ? 0x10000000 : (ULONG)length;
        if (!SystemFunction036(data, chunk)) return FALSE;
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}
