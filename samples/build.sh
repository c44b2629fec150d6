#!/bin/bash
# samples/build.sh - build dumpkit's sample Windows programs (exe + pdb) from src/,
# run them under Wine to get real minidumps, and post-process those into the small
# committed sample dumps (trimmed / CodeView / handle-data variants, all labelled).
#
#   ./build.sh setup    install the toolchain and Wine (Debian 12, root; see README)
#   ./build.sh build    src/*.c -> bin/*.exe + bin/*.pdb   (clang + lld-link, no CRT)
#   ./build.sh run      run the scenarios under Wine -> $RAW/*.dmp + logs/*.txt
#   ./build.sh post     $RAW/*.dmp -> dumps/*.dmp (tools/*.py), EXPECTED.json, check
#   ./build.sh check    re-check the committed dumps against EXPECTED.json
#   ./build.sh all      build + run + post   (default)
#
# Environment (all optional):
#   OBJ        neutral build directory (default /tmp/dumpkit-samples-obj); src/ is copied there
#              and every tool runs there with relative paths, so no host path lands in outputs
#   RAW        where Wine's untouched dumps are copied (default /tmp/dumpkit-samples-raw);
#              full-memory dumps are 25-40 MB each and are not committed
#   WINEPREFIX default /srv/dumpkit-samples-wine (recreated by `run`)
#   PY         python3 with `construct` (and `minidump` for the check), default python3
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
OBJ=${OBJ:-/tmp/dumpkit-samples-obj}
RAW=${RAW:-/tmp/dumpkit-samples-raw}
PY=${PY:-python3}
WINROOT='C:\dumpkit'
export WINEPREFIX=${WINEPREFIX:-/srv/dumpkit-samples-wine}
export WINEDEBUG=-all
export WINEDLLOVERRIDES="mscoree,mshtml="
WD=$WINEPREFIX/drive_c/dumpkit                       # C:\dumpkit inside the prefix
# The only environment the Windows processes get: Wine copies the Unix environment into the
# process environment block, which a full-memory dump contains.
WV=(HOME="$WINEPREFIX" WINEPREFIX="$WINEPREFIX" WINEDEBUG="$WINEDEBUG"
    WINEDLLOVERRIDES="$WINEDLLOVERRIDES" PATH=/usr/bin:/bin LANG=C.UTF-8 USER=dumpkit)
FAILS=0
say() { echo "[samples] $*"; }
fail() { echo "[samples] FAIL: $*"; FAILS=$((FAILS + 1)); }

# name arch source  (the committed programs; dumper_* are build tools, not committed)
PROGRAMS=(
    "seh_x86 i686 seh_x86"
    "crash_x64 x86_64 crash_x64"
    "deadlock_cs_x86 i686 deadlock_cs"
    "deadlock_cs_x64 x86_64 deadlock_cs"
    "deadlock_mutex_x86 i686 deadlock_mutex"
    "deadlock_mutex_x64 x86_64 deadlock_mutex"
    "dumper_x86 i686 dumper"
    "dumper_x64 x86_64 dumper"
)

setup() {
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y --no-install-recommends clang lld llvm wine wine64 libwine xz-utils || fail "apt clang/wine"
    dpkg --add-architecture i386
    apt-get update || true   # an index that fails for one architecture must not stop us
    if ! apt-get install -y --no-install-recommends wine32:i386; then
        say "plain wine32:i386 failed; retrying with amd64 libraries pinned to the i386 versions"
        pinned_wine32 || fail "wine32:i386 (the i686 samples cannot run)"
    fi
    "$PY" -m pip install -q construct minidump || fail "pip construct minidump"
}

# wine32:i386 needs every Multi-Arch: same library at the same version on amd64 and i386.
# When the mirror's i386 index lags the amd64 one (README: "wine32:i386"), pin the amd64
# twins to the i386 candidates, name the i386 packages the resolver gives up on, and keep
# the -dev packages that the pins would remove by installing them at a version that fits.
pinned_wine32() {
    local p inst cand pins=() extra=() devs=() i u out
    for p in $(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
                 --no-replaces --no-enhances wine32:i386 2>/dev/null | grep -v '^ ' | grep ':i386$' |
                 sed 's/:i386$//' | sort -u); do
        inst=$(dpkg-query -W -f='${Status} ${Version}' "$p:amd64" 2>/dev/null | awk '/install ok installed/{print $4}')
        [ -n "$inst" ] || continue
        cand=$(apt-cache policy "$p:i386" | sed -n 's/ *Candidate: //p')
        [ "$inst" != "$cand" ] || continue
        apt-cache show "$p:i386" 2>/dev/null | grep -q '^Multi-Arch: same' || continue
        apt-cache madison "$p" | awk -v v="$cand" '$3 == v && /amd64/ {f = 1} END {exit !f}' && pins+=("$p:amd64=$cand")
    done
    for i in 1 2 3 4 5 6 7 8; do
        out=$(apt-get install -s -y --no-install-recommends --allow-downgrades wine32:i386 "${extra[@]}" "${pins[@]}" "${devs[@]}" 2>&1)
        u=$(echo "$out" | grep -oE 'Depends: [^ ]+:i386' | awk '{print $2}' | sort -u)
        if [ -n "$u" ]; then extra+=($u); continue; fi
        u=$(echo "$out" | awk '/^Remv /{print $2}')
        [ -n "$u" ] || break
        for p in $u; do   # a version of the removed package that the pins allow
            for cand in $(apt-cache madison "$p" | awk '/amd64|all/ {print $3}'); do
                if apt-get install -s -y --no-install-recommends --allow-downgrades wine32:i386 "${extra[@]}" \
                     "${pins[@]}" "${devs[@]}" "$p=$cand" 2>&1 | grep -q "^Inst $p \|^Conf $p "; then
                    devs+=("$p=$cand"); break
                fi
            done
        done
    done
    say "pins: ${pins[*]} extra: ${extra[*]} keep: ${devs[*]}"
    apt-get install -y --no-install-recommends --allow-downgrades wine32:i386 "${extra[@]}" "${pins[@]}" "${devs[@]}"
}

# ---------------------------------------------------------------- build
DBG=(-ffile-compilation-dir="$WINROOT")   # debug info calls $OBJ "C:\dumpkit"
CFLAGS=(-g -gcodeview -O1 -Wall -Wextra -Wno-unused-parameter -fno-stack-protector -fms-extensions)

cc() { # arch src out
    clang --target="$1-pc-windows-msvc" "${CFLAGS[@]}" "${DBG[@]}" -c "src/$2.c" -o "$3" || fail "cc $2 ($1)"
}

build() {
    local LLD name arch src m libs extra
    LLD=$(command -v lld-link) || { fail "no lld-link (./build.sh setup)"; return; }
    rm -rf "$OBJ" && mkdir -p "$OBJ/obj/i686" "$OBJ/obj/x86_64" "$OBJ/bin" && cp -r "$HERE/src" "$OBJ/src" ||
        { fail "stage $OBJ"; return; }
    cd "$OBJ" || return
    for d in kernel32 dbghelp ntdll; do        # import libraries from our own .def files
        llvm-dlltool -m i386 -k -d src/def/$d.def -l obj/i686/$d.lib || fail "dlltool $d i686"
        sed 's/@[0-9]*$//' src/def/$d.def > obj/x86_64/$d.def
        llvm-dlltool -m i386:x86-64 -d obj/x86_64/$d.def -l obj/x86_64/$d.lib || fail "dlltool $d x86_64"
    done
    llvm-dlltool -m i386 -d src/def/msvcrt-i686.def -l obj/i686/msvcrt.lib || fail "dlltool msvcrt"
    for arch in i686 x86_64; do
        clang --target=$arch-pc-windows-msvc "${CFLAGS[@]}" -fno-builtin "${DBG[@]}" -c src/crt0.c -o obj/$arch/crt0.obj ||
            fail "cc crt0 ($arch)"
    done
    cc i686 loadcfg32 obj/i686/loadcfg32.obj
    for p in "${PROGRAMS[@]}"; do
        read -r name arch src <<< "$p"
        cc "$arch" "$src" "obj/$arch/$src.obj"
        libs="obj/$arch/kernel32.lib obj/$arch/dbghelp.lib obj/$arch/ntdll.lib"
        if [ "$arch" = i686 ]; then
            m=X86; extra="/safeseh obj/i686/loadcfg32.obj obj/i686/msvcrt.lib"
        else
            m=X64; extra=""
        fi
        # /Brepro: the COFF timestamp is a content hash; lld's PDB GUID is a content hash too.
        # /pdbaltpath:%_PDB%: the exe's CodeView record names the PDB file only.
        # /pdbsourcepath: the PDB names objects and the linker cwd C:\dumpkit\...
        "$LLD" /nologo /machine:$m /subsystem:console /entry:mainCRTStartup /nodefaultlib /Brepro \
            /debug /pdb:bin/$name.pdb /pdbaltpath:%_PDB% "/pdbsourcepath:$WINROOT" /out:bin/$name.exe \
            obj/$arch/$src.obj obj/$arch/crt0.obj $extra $libs || fail "link $name"
    done
    cd "$HERE" || return
    mkdir -p bin logs
    rm -f bin/*.exe bin/*.pdb
    for p in "${PROGRAMS[@]}"; do
        read -r name arch src <<< "$p"
        case $name in dumper_*) continue ;; esac
        cp "$OBJ/bin/$name.exe" "$OBJ/bin/$name.pdb" bin/ || fail "copy $name"
    done
    verify_build > logs/build.txt 2>&1
    cat logs/build.txt
    grep -q 'PDB-MISMATCH\|SAFESEH-BAD' logs/build.txt && fail "build verification (logs/build.txt)"
}

verify_build() {
    local e g1 a1 g2 a2 raw
    echo "# $(clang --version | head -1) / $(lld-link --version) / $(llvm-pdbutil --version | grep -o 'LLVM version [0-9.]*')"
    for e in bin/*.exe; do
        raw=$(llvm-readobj --coff-debug-directory "$e" | sed -n 's/.*PDBGUID: (\(.*\))/\1/p' | tr -d ' ')
        g1=$(python3 -c "import uuid,sys; print(str(uuid.UUID(bytes_le=bytes.fromhex(sys.argv[1]))).upper())" "$raw")
        a1=$(llvm-readobj --coff-debug-directory "$e" | sed -n 's/.*PDBAge: //p')
        g2=$(llvm-pdbutil dump --summary "${e%.exe}.pdb" | sed -n 's/.*GUID: {\(.*\)}/\1/p')
        a2=$(llvm-pdbutil dump --summary "${e%.exe}.pdb" | sed -n 's/^ *Age: //p')
        if [ -n "$g1" ] && [ "$g1" = "$g2" ] && [ "$a1" = "$a2" ]; then
            echo "PDB-MATCH $(basename "$e") guid={$g1} age=$a1 pdb=$(llvm-readobj --coff-debug-directory "$e" | sed -n 's/.*PDBFileName: //p')"
        else
            echo "PDB-MISMATCH $(basename "$e") exe={$g1}/$a1 pdb={$g2}/$a2"
        fi
    done
    for e in bin/*_x86.exe; do
        echo "== SafeSEH: $(basename "$e")"
        llvm-readobj --coff-load-config "$e" | grep -E 'SEHandler(Table|Count)' || echo "SAFESEH-BAD no load config"
        for h in $(llvm-readobj --coff-load-config "$e" | sed -n '/SEHTable \[/,/\]/p' | grep -oE '0x[0-9A-F]+'); do
            echo "  handler $h $(llvm-symbolizer --obj="$e" "$h" | head -1)"
        done
    done
    ls -l bin
}

# ---------------------------------------------------------------- run
wine_run() { # timeout-seconds logname winecmd...
    local t=$1 log=$2
    shift 2
    timeout "$t" env -i -C "$WD" "${WV[@]}" wine "$@" > "logs/$log.txt" 2>&1
    echo "exit=$?" >> "logs/$log.txt"
    tr -d '\r' < "logs/$log.txt" > "logs/$log.tmp" && mv "logs/$log.tmp" "logs/$log.txt"
}

run() {
    local s name arch B='C:\dumpkit\bin' D='C:\dumpkit\dumps'
    [ -x /usr/lib/wine/wine ] || fail "no wine32 (/usr/lib/wine/wine): the i686 scenarios will fail"
    cd "$HERE" || return
    mkdir -p logs
    rm -rf "$WINEPREFIX" "$RAW" && mkdir -p "$RAW"
    s=$(date +%s)
    timeout 300 env -i -C / "${WV[@]}" wine wineboot -i > /dev/null 2>&1 || fail "wineboot"
    timeout 120 env -i -C / "${WV[@]}" wineserver -w
    say "wineboot: $(( $(date +%s) - s ))s, $(wine --version)"
    mkdir -p "$WD/bin" "$WD/dumps" && cp bin/*.exe "$OBJ"/bin/dumper_*.exe "$WD/bin/" || { fail "stage $WD"; return; }
    for name in seh_x86 crash_x64 deadlock_cs_x86 deadlock_cs_x64 deadlock_mutex_x86 deadlock_mutex_x64; do
        arch=${name##*_}
        wine_run 120 "run-$name" "$B\\$name.exe" "$D\\$name" "$B\\dumper_$arch.exe"
        timeout 60 env -i -C / "${WV[@]}" wineserver -w
        ls "$WD/dumps/$name-normal.dmp" "$WD/dumps/$name-full.dmp" > /dev/null || fail "$name: no dumps (logs/run-$name.txt)"
    done
    timeout 60 env -i -C / "${WV[@]}" wineserver -k 2>/dev/null
    cp "$WD"/dumps/*.dmp "$RAW/" || fail "no dumps"
    ls -l "$RAW"
}

# ---------------------------------------------------------------- post
post() {
    cd "$HERE" || return
    "$PY" tools/make_samples.py --raw "$RAW" --prefix "$WINEPREFIX" || fail "make_samples.py"
    check
}

check() {
    cd "$HERE" || return
    "$PY" tools/check_samples.py || fail "check_samples.py"
}

case "${1:-all}" in
    setup) setup ;;
    build) build ;;
    run) run ;;
    post) post ;;
    check) check ;;
    all) build; [ "$FAILS" = 0 ] && run; [ "$FAILS" = 0 ] && post ;;
    *) echo "usage: $0 setup|build|run|post|check|all"; exit 2 ;;
esac
say "done, $FAILS failure(s)"
[ "$FAILS" = 0 ]
