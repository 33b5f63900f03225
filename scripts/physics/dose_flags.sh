# dose_flags GROUP: the engine flags that give a frozen-phonon test-set group's acquisition
# (<cell>_<chem>[_...]_<kV>kV_<inner>-<outer>mrad_<dose>): with DOSE_KNOWN=1 the dose, voltage
# and detector; with OPTICS_KNOWN=1 the voltage and detector alone (as a file's metadata
# gives them); nothing otherwise.
dose_flags() {
  [ "${DOSE_KNOWN:-0}" = 1 ] || [ "${OPTICS_KNOWN:-0}" = 1 ] || return 0
  local name=${1%%__*}
  local kv det dose
  kv=$(grep -o '[0-9]*kV' <<<"$name" | head -1 | tr -d kV)
  det=$(grep -o '[0-9]*-[0-9]*mrad' <<<"$name" | head -1 | sed 's/mrad//')
  dose=$(grep -o '1e[0-9]*$' <<<"$name")
  if [ "${DOSE_KNOWN:-0}" = 1 ]; then
    echo --dose "$dose" --kv "$kv" --detector-mrad "$det"
  else
    echo --kv "$kv" --detector-mrad "$det"
  fi
}
