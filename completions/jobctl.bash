# bash completion for jobctl. Generated from the command tree by
# `make completions` (python -m jobctl.cli.completions); do not edit.
# Install: copy to ~/.local/share/bash-completion/completions/jobctl, or source it.

_jobctl_commands() {
    case "$1" in
        '') REPLY='backup cancel cron dead edit enqueue health import-crontab list logs metrics pause prune reload resume retry run-worker schedule schedule-daemon show stats status up validate wait' ;;
        'cron') REPLY='next' ;;
        'dead') REPLY='list purge retry show' ;;
        'schedule') REPLY='list pause resume run' ;;
        *) REPLY='' ;;
    esac
}
_jobctl_options() {
    case "$1" in
        '') REPLY='--config -c --db --log-format --log-level --version --help -h' ;;
        'backup') REPLY='--help -h' ;;
        'cancel') REPLY='--queue -q --job -j --all -a --yes -y --json --help -h' ;;
        'cron') REPLY='--help -h' ;;
        'cron next') REPLY='--count -n --tz --from --json --help -h' ;;
        'dead') REPLY='--help -h' ;;
        'dead list') REPLY='--job -j --since --limit -n --json --help -h' ;;
        'dead purge') REPLY='--all -a --older-than --job -j --yes -y --json --help -h' ;;
        'dead retry') REPLY='--all -a --job -j --json --help -h' ;;
        'dead show') REPLY='--lines -l --json --help -h' ;;
        'edit') REPLY='--arg -a --delay -d --at --priority --queue -q --max-attempts --exec -x --cwd --json --help -h' ;;
        'enqueue') REPLY='--arg -a --payload -p --payload-file --delay -d --at --priority --queue -q --key -k --max-attempts --after --batch --exec -x --cwd --json --wait -w --follow -f --timeout -t --help -h' ;;
        'health') REPLY='--max-ready --max-age --max-dead --queue -q --require-worker --require-scheduler --json --help -h' ;;
        'import-crontab') REPLY='--system --user -u --prefix --help -h' ;;
        'list') REPLY='--state -s --job -j --queue -q --key -k --since --limit -n --oldest-first --json --help -h' ;;
        'logs') REPLY='--attempt --run -a --follow -f --timeout -t --lines -l --hook --help -h' ;;
        'metrics') REPLY='--help -h' ;;
        'pause') REPLY='--all -a --json --help -h' ;;
        'prune') REPLY='--older-than --state -s --yes -y --json --help -h' ;;
        'reload') REPLY='--help -h' ;;
        'resume') REPLY='--all -a --json --help -h' ;;
        'retry') REPLY='--arg -a --delay -d --at --priority --queue -q --max-attempts --after --cwd --json --help -h' ;;
        'run-worker') REPLY='--queue -q --concurrency -n --burst --shutdown-timeout --worker-name --metrics-addr --help -h' ;;
        'schedule') REPLY='--help -h' ;;
        'schedule list') REPLY='--json --help -h' ;;
        'schedule pause') REPLY='--json --help -h' ;;
        'schedule resume') REPLY='--json --help -h' ;;
        'schedule run') REPLY='--json --help -h' ;;
        'schedule-daemon') REPLY='--metrics-addr --help -h' ;;
        'show') REPLY='--json --help -h' ;;
        'stats') REPLY='--since --json --help -h' ;;
        'status') REPLY='--json --help -h' ;;
        'up') REPLY='--queue -q --concurrency -n --shutdown-timeout --metrics-addr --help -h' ;;
        'validate') REPLY='--quiet --help -h' ;;
        'wait') REPLY='--queue -q --job -j --all -a --timeout -t --json --help -h' ;;
        *) REPLY='' ;;
    esac
}
_jobctl_value() {
    case "$1" in
        ' --config') REPLY='file' ;;
        ' -c') REPLY='file' ;;
        ' --db') REPLY='file' ;;
        ' --log-format') REPLY='choice text json' ;;
        ' --log-level') REPLY='choice debug info warning error' ;;
        'cancel --queue') REPLY='dynamic' ;;
        'cancel -q') REPLY='dynamic' ;;
        'cancel --job') REPLY='dynamic' ;;
        'cancel -j') REPLY='dynamic' ;;
        'cron next --count') REPLY='plain' ;;
        'cron next -n') REPLY='plain' ;;
        'cron next --tz') REPLY='plain' ;;
        'cron next --from') REPLY='plain' ;;
        'dead list --job') REPLY='dynamic' ;;
        'dead list -j') REPLY='dynamic' ;;
        'dead list --since') REPLY='plain' ;;
        'dead list --limit') REPLY='plain' ;;
        'dead list -n') REPLY='plain' ;;
        'dead purge --older-than') REPLY='plain' ;;
        'dead purge --job') REPLY='dynamic' ;;
        'dead purge -j') REPLY='dynamic' ;;
        'dead retry --job') REPLY='dynamic' ;;
        'dead retry -j') REPLY='dynamic' ;;
        'dead show --lines') REPLY='plain' ;;
        'dead show -l') REPLY='plain' ;;
        'edit --arg') REPLY='plain' ;;
        'edit -a') REPLY='plain' ;;
        'edit --delay') REPLY='plain' ;;
        'edit -d') REPLY='plain' ;;
        'edit --at') REPLY='plain' ;;
        'edit --priority') REPLY='plain' ;;
        'edit --queue') REPLY='dynamic' ;;
        'edit -q') REPLY='dynamic' ;;
        'edit --max-attempts') REPLY='plain' ;;
        'edit --cwd') REPLY='dir' ;;
        'enqueue --arg') REPLY='plain' ;;
        'enqueue -a') REPLY='plain' ;;
        'enqueue --payload') REPLY='plain' ;;
        'enqueue -p') REPLY='plain' ;;
        'enqueue --payload-file') REPLY='file' ;;
        'enqueue --delay') REPLY='plain' ;;
        'enqueue -d') REPLY='plain' ;;
        'enqueue --at') REPLY='plain' ;;
        'enqueue --priority') REPLY='plain' ;;
        'enqueue --queue') REPLY='dynamic' ;;
        'enqueue -q') REPLY='dynamic' ;;
        'enqueue --key') REPLY='plain' ;;
        'enqueue -k') REPLY='plain' ;;
        'enqueue --max-attempts') REPLY='plain' ;;
        'enqueue --after') REPLY='plain' ;;
        'enqueue --batch') REPLY='file' ;;
        'enqueue --cwd') REPLY='dir' ;;
        'enqueue --timeout') REPLY='plain' ;;
        'enqueue -t') REPLY='plain' ;;
        'health --max-ready') REPLY='plain' ;;
        'health --max-age') REPLY='plain' ;;
        'health --max-dead') REPLY='plain' ;;
        'health --queue') REPLY='dynamic' ;;
        'health -q') REPLY='dynamic' ;;
        'import-crontab --user') REPLY='plain' ;;
        'import-crontab -u') REPLY='plain' ;;
        'import-crontab --prefix') REPLY='plain' ;;
        'list --state') REPLY='dynamic' ;;
        'list -s') REPLY='dynamic' ;;
        'list --job') REPLY='dynamic' ;;
        'list -j') REPLY='dynamic' ;;
        'list --queue') REPLY='dynamic' ;;
        'list -q') REPLY='dynamic' ;;
        'list --key') REPLY='plain' ;;
        'list -k') REPLY='plain' ;;
        'list --since') REPLY='plain' ;;
        'list --limit') REPLY='plain' ;;
        'list -n') REPLY='plain' ;;
        'logs --attempt') REPLY='plain' ;;
        'logs --run') REPLY='plain' ;;
        'logs -a') REPLY='plain' ;;
        'logs --timeout') REPLY='plain' ;;
        'logs -t') REPLY='plain' ;;
        'logs --lines') REPLY='plain' ;;
        'logs -l') REPLY='plain' ;;
        'logs --hook') REPLY='choice failure dead' ;;
        'prune --older-than') REPLY='plain' ;;
        'prune --state') REPLY='dynamic' ;;
        'prune -s') REPLY='dynamic' ;;
        'retry --arg') REPLY='plain' ;;
        'retry -a') REPLY='plain' ;;
        'retry --delay') REPLY='plain' ;;
        'retry -d') REPLY='plain' ;;
        'retry --at') REPLY='plain' ;;
        'retry --priority') REPLY='plain' ;;
        'retry --queue') REPLY='dynamic' ;;
        'retry -q') REPLY='dynamic' ;;
        'retry --max-attempts') REPLY='plain' ;;
        'retry --after') REPLY='plain' ;;
        'retry --cwd') REPLY='dir' ;;
        'run-worker --queue') REPLY='dynamic' ;;
        'run-worker -q') REPLY='dynamic' ;;
        'run-worker --concurrency') REPLY='plain' ;;
        'run-worker -n') REPLY='plain' ;;
        'run-worker --shutdown-timeout') REPLY='plain' ;;
        'run-worker --worker-name') REPLY='plain' ;;
        'run-worker --metrics-addr') REPLY='plain' ;;
        'schedule-daemon --metrics-addr') REPLY='plain' ;;
        'stats --since') REPLY='plain' ;;
        'up --queue') REPLY='dynamic' ;;
        'up -q') REPLY='dynamic' ;;
        'up --concurrency') REPLY='plain' ;;
        'up -n') REPLY='plain' ;;
        'up --shutdown-timeout') REPLY='plain' ;;
        'up --metrics-addr') REPLY='plain' ;;
        'wait --queue') REPLY='dynamic' ;;
        'wait -q') REPLY='dynamic' ;;
        'wait --job') REPLY='dynamic' ;;
        'wait -j') REPLY='dynamic' ;;
        'wait --timeout') REPLY='plain' ;;
        'wait -t') REPLY='plain' ;;
        *) REPLY='flag' ;;
    esac
}
_jobctl_argument() {
    case "$1" in
        'backup 0') REPLY='file' ;;
        'cancel *') REPLY='plain' ;;
        'cron next 0') REPLY='dynamic' ;;
        'dead purge *') REPLY='plain' ;;
        'dead retry *') REPLY='plain' ;;
        'dead show 0') REPLY='plain' ;;
        'edit *') REPLY='plain' ;;
        'enqueue *') REPLY='dynamic' ;;
        'import-crontab 0') REPLY='file' ;;
        'logs 0') REPLY='plain' ;;
        'pause *') REPLY='dynamic' ;;
        'prune *') REPLY='plain' ;;
        'resume *') REPLY='dynamic' ;;
        'retry 0') REPLY='plain' ;;
        'schedule pause 0') REPLY='dynamic' ;;
        'schedule resume 0') REPLY='dynamic' ;;
        'schedule run 0') REPLY='dynamic' ;;
        'show 0') REPLY='plain' ;;
        'wait *') REPLY='plain' ;;
        *) REPLY='' ;;
    esac
}

# Sets REPLY to the value kind of option $2 of command $1, or of argument number $2.
_jobctl_kind() {
    _jobctl_value "$1 $2"
}

_jobctl_argument_kind() {
    _jobctl_argument "$1 $2"
    [[ -n $REPLY ]] || _jobctl_argument "$1 *"
}

# Values only jobctl knows (job and queue names): ask it with the line up to the cursor.
_jobctl_dynamic() {
    local prog=${1/#\~/$HOME} item IFS=$'\n'
    local -a found
    found=($(_JOBCTL_COMPLETE=complete_line _JOBCTL_COMPLETE_LINE="$2" "$prog" 2>/dev/null))
    for item in "${found[@]}"; do
        COMPREPLY+=("${item%%$'\t'*}")
    done
}

# The words of a line as the shell reads them, into `words`: a blank in quotes or after a
# backslash is no break (`-c "my dir/jobs.toml"` is one word), and the quotes and
# backslashes are taken out. REPLY: 1 when the line ends at a break, 0 in a word.
_jobctl_words() {
    local line=$1 word='' quote='' c
    local -i i n=${#line} have=0
    words=()
    REPLY=1
    for ((i = 0; i < n; i++)); do
        c=${line:i:1}
        if [[ -n $quote ]]; then
            if [[ $c == "$quote" ]]; then
                quote=''
            elif [[ $quote == '"' && $c == '\' ]] && ((i + 1 < n)); then
                i+=1
                word+=${line:i:1}
            else
                word+=$c
            fi
        elif [[ $c == '\' ]]; then
            have=1
            if ((i + 1 < n)); then
                i+=1
                word+=${line:i:1}
            fi
        elif [[ $c == [\'\"] ]]; then
            quote=$c
            have=1
        elif [[ $c == [[:space:]] ]]; then
            ((have)) && words+=("$word")
            word=''
            have=0
        else
            word+=$c
            have=1
        fi
    done
    if ((have)) || [[ -n $quote ]]; then
        words+=("$word")
        REPLY=0
    fi
}

_jobctl() {
    local line=${COMP_LINE:0:COMP_POINT} cur='' node='' pending='' dashdash='' kind REPLY w
    local exec=''
    local -a words
    local -i i j argi=0 cmdw=0
    COMPREPLY=()
    _jobctl_words "$line"
    if ((!REPLY)); then  # a word being typed: the last
        cur=${words[${#words[@]}-1]}
        words=("${words[@]:0:${#words[@]}-1}")
    fi
    for ((i = 1; i < ${#words[@]}; i++)); do
        w=${words[i]}
        if [[ -n $exec ]] && ((cmdw > 0)); then
            cmdw+=1  # the words of an --exec command, options too, are the command's
        elif [[ -n $pending ]]; then
            pending=''
        elif [[ -z $dashdash && $w == -- ]]; then
            dashdash=1
            [[ $node == edit ]] && exec=1  # edit ID -- CMD ARGS...
        elif [[ -z $dashdash && $w == --?* ]]; then
            [[ ($node == enqueue || $node == edit) && $w == --exec ]] && exec=1
            if [[ $w != *=* ]]; then
                _jobctl_kind "$node" "$w"
                [[ $REPLY == flag ]] || pending=$w
            fi
        elif [[ -z $dashdash && $w == -?* ]]; then
            # Short options, alone or bundled (-xq): flags up to one that takes a value,
            # which is the rest of the word, or else the next word.
            for ((j = 1; j < ${#w}; j++)); do
                [[ ($node == enqueue || $node == edit) && ${w:j:1} == x ]] && exec=1
                _jobctl_kind "$node" "-${w:j:1}"
                if [[ $REPLY != flag ]]; then
                    ((j + 1 < ${#w})) || pending=-${w:j:1}
                    break
                fi
            done
        elif [[ -n $exec ]]; then
            cmdw+=1  # the command's name
        else
            _jobctl_commands "$node"
            if ((argi == 0)) && [[ " $REPLY " == *" $w "* ]]; then
                node=${node:+$node }$w
            else
                argi+=1
            fi
        fi
    done
    if [[ -n $exec && -z $pending ]] && ((cmdw > 0)); then
        compopt -o filenames 2>/dev/null
        COMPREPLY=($(compgen -f -- "$cur"))  # an argument of the command
        return 0
    elif [[ -n $exec && -z $pending && ( -n $dashdash || $cur != -* ) ]]; then
        if [[ $cur == */* ]]; then  # the command's name: a path, or one found in PATH
            compopt -o filenames 2>/dev/null
            COMPREPLY=($(compgen -f -- "$cur"))
        else
            COMPREPLY=($(compgen -c -- "$cur"))
        fi
        return 0
    elif [[ -n $pending ]]; then
        _jobctl_kind "$node" "$pending"
    elif [[ -z $dashdash && $cur == --*=* ]]; then
        _jobctl_kind "$node" "${cur%%=*}"
        cur=${cur#*=}
    elif [[ -z $dashdash && $cur == -* ]]; then
        _jobctl_options "$node"
        COMPREPLY=($(compgen -W "$REPLY" -- "$cur"))
        return 0
    else
        _jobctl_commands "$node"
        if [[ -n $REPLY ]]; then
            COMPREPLY=($(compgen -W "$REPLY" -- "$cur"))
            return 0
        fi
        _jobctl_argument_kind "$node" "$argi"
    fi
    kind=$REPLY
    case $kind in
        file) compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -f -- "$cur")) ;;
        dir) compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -d -- "$cur")) ;;
        dynamic) _jobctl_dynamic "${words[0]}" "$line" ;;
        choice\ *) COMPREPLY=($(compgen -W "${kind#choice }" -- "$cur")) ;;
    esac
    # bash splits words at ':' too: complete only what follows the last one.
    if [[ $cur == *:* && $kind != file && $kind != dir ]]; then
        local colon=${cur%"${cur##*:}"}
        for ((i = 0; i < ${#COMPREPLY[@]}; i++)); do
            COMPREPLY[i]=${COMPREPLY[i]#"$colon"}
        done
    fi
    return 0
}

complete -F _jobctl jobctl
