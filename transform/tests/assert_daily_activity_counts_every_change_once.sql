{#-
  The day-by-day counts add up to the changes, day by day, and each row's counts by kind of
  originator add up to its changes.
-#}
with changes as (

    select changed_on, count(*) as changes
    from {{ ref('stg_lp_audittrail__changes') }}
    group by changed_on

),

counted as (

    select
        activity_date,
        sum(change_count) as changes,
        sum(person_change_count + lpa_change_count + automatic_change_count) as by_kind
    from {{ ref('lp_audittrail__daily_activity') }}
    group by activity_date

)

select changes.changed_on, changes.changes, counted.changes as counted, counted.by_kind
from changes
full outer join counted on counted.activity_date = changes.changed_on
where counted.changes is null
    or changes.changes is null
    or counted.changes <> changes.changes
    or counted.by_kind <> changes.changes
